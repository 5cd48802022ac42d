import { lazy, Suspense, useEffect } from 'react';
import { Navigate, Route, Routes } from 'react-router';

import { subscribe, sessionStatus } from '../api';
import { ForgotPasswordPage } from '../auth/ForgotPasswordPage';
import { LoginPage } from '../auth/LoginPage';
import { ResetPasswordPage } from '../auth/ResetPasswordPage';
import { SignupPage } from '../auth/SignupPage';
import { VerifyEmailPage } from '../auth/VerifyEmailPage';
import { Loading } from '../common/Loading';
import { NotFound } from '../common/NotFound';
import { VideosPage } from '../videos/VideosPage';
import { Layout } from './Layout';
import { queryClient } from './queryClient';
import { PublicOnly, RequireAuth } from './RequireAuth';

// The heavier pages load on first visit, so the first page's script stays small.
const VideoPage = lazy(() => import('../video/VideoPage'));
const SearchPage = lazy(() => import('../search/SearchPage'));
const SettingsPage = lazy(() => import('../settings/SettingsPage'));

function signedIn(page: React.ReactNode) {
  return (
    <RequireAuth>
      <Suspense fallback={<Loading />}>{page}</Suspense>
    </RequireAuth>
  );
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
