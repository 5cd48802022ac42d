import { useEffect } from 'react';
import { Navigate, Route, Routes } from 'react-router';

import { subscribe, sessionStatus } from '../api';
import { ForgotPasswordPage } from '../auth/ForgotPasswordPage';
import { LoginPage } from '../auth/LoginPage';
import { ResetPasswordPage } from '../auth/ResetPasswordPage';
import { SignupPage } from '../auth/SignupPage';
import { VerifyEmailPage } from '../auth/VerifyEmailPage';
import { NotFound } from '../common/NotFound';
import SearchPage from '../search/SearchPage';
import SettingsPage from '../settings/SettingsPage';
import VideoPage from '../video/VideoPage';
import { VideosPage } from '../videos/VideosPage';
import { Layout } from './Layout';
import { queryClient } from './queryClient';
import { PublicOnly, RequireAuth } from './RequireAuth';

// One bundle (about 113 kB gzipped in all): a lazy page would cost more than its bytes, since
// React holds a revealed Suspense boundary back for up to 300 ms, and the page's requests with it.
function signedIn(page: React.ReactNode) {
  return <RequireAuth>{page}</RequireAuth>;
}

export function App() {
  // A session that ends (log out, refused refresh) takes its data with it.
  useEffect(
    () =>
      subscribe(() => {
        if (sessionStatus() === 'out') queryClient.clear();
      }),
    [],
  );

  return (
    <Routes>
      <Route element={<Layout />}>
        <Route index element={<Navigate to="/videos" replace />} />
        <Route path="login" element={<PublicOnly><LoginPage /></PublicOnly>} />
        <Route path="signup" element={<PublicOnly><SignupPage /></PublicOnly>} />
        <Route path="forgot-password" element={<ForgotPasswordPage />} />
        <Route path="reset-password" element={<ResetPasswordPage />} />
        <Route path="verify-email" element={<VerifyEmailPage />} />
        <Route path="videos" element={signedIn(<VideosPage />)} />
        <Route path="videos/:videoId" element={signedIn(<VideoPage />)} />
        <Route path="search" element={signedIn(<SearchPage />)} />
        <Route path="settings" element={signedIn(<SettingsPage />)} />
        <Route path="*" element={<NotFound />} />
      </Route>
    </Routes>
  );
}
