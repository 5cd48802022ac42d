import { useTitle } from '../common/useTitle';
import { Account } from './Account';
import { AiUsage } from './AiUsage';
import { DeleteAccount } from './DeleteAccount';
import { PasswordForm } from './PasswordForm';
import { Webhooks } from './webhooks/Webhooks';

export default function SettingsPage() {
  useTitle('Settings');
  return (
    <section aria-labelledby="settings-title" className="settings">
      <h1 id="settings-title">Settings</h1>
      <Account />
      <PasswordForm />
      <AiUsage />
      <Webhooks />
      <DeleteAccount />
    </section>
  );
}
