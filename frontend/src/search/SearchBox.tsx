import { type FormEvent, useEffect, useState } from 'react';
import { useLocation, useNavigate, useSearchParams } from 'react-router';

/** The search box of every page (Enter searches); on /search it shows the words searched. */
export function SearchBox() {
  const location = useLocation();
  const navigate = useNavigate();
  const [params] = useSearchParams();
  const q = location.pathname === '/search' ? (params.get('q') ?? '') : '';
  const [draft, setDraft] = useState(q);
  useEffect(() => setDraft(q), [q]);

  const submit = (event: FormEvent) => {
    event.preventDefault();
    const words = draft.trim();
    navigate(words ? `/search?${new URLSearchParams({ q: words })}` : '/search');
  };

  return (
    <form role="search" className="search-box" onSubmit={submit}>
      <label htmlFor="search-input" className="visually-hidden">
        Search what was said in your videos
      </label>
      <input
        id="search-input"
        type="search"
        placeholder="Search what was said…"
        value={draft}
        onChange={(event) => setDraft(event.target.value)}
        maxLength={500}
        data-testid="search-input"
      />
      <button type="submit">Search</button>
    </form>
  );
}
