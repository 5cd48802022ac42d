import { useQuery } from '@tanstack/react-query';
import { useState } from 'react';
import { Link, NavLink, Outlet, useNavigate } from 'react-router';

import { getMe, logOut } from '../api';
import { SearchBox } from '../search/SearchBox';
import { useSession } from './useSession';

function Credits() {
  const me = useQuery({ queryKey: ['me'], queryFn: getMe });
  if (!me.data) return null;
  return (
    <span className="credits" data-testid="credits" aria-live="polite">
      <span className="credits-number">{me.data.credits}</span> credits
    </span>
  );
}

function LogoutButton() {
  const navigate = useNavigate();
  const [busy, setBusy] = useState(false);
  const onClick = async () => {
    setBusy(true);
    try {
      await logOut();
    } catch {
      // the session is over in this tab whatever the server said
    } finally {
      navigate('/login', { replace: true });
    }
  };
  return (
    <button type="button" className="link-button" data-testid="logout" onClick={onClick} disabled={busy}>
      Log out
    </button>
  );
}

export function Layout() {
  const status = useSession();
  return (
    <>
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="site-header">
        <Link to="/videos" className="brand">
          Video AI
        </Link>
        {status === 'in' && (
          <>
            <nav aria-label="Main">
              <ul>
                <li><NavLink to="/videos">Videos</NavLink></li>
                <li><NavLink to="/search">Search</NavLink></li>
                <li><NavLink to="/settings">Settings</NavLink></li>
              </ul>
            </nav>
            <SearchBox />
            <div className="account">
              <Credits />
              <LogoutButton />
            </div>
          </>
        )}
      </header>
      <main id="main" tabIndex={-1}>
        <Outlet />
      </main>
    </>
  );
}
