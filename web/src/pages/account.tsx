// The account: language, password, sign out (profile, preferences and payment methods join it
// as the API offers them).
import { api, session } from '../api/client';
import { LanguagePicker, t } from '../i18n';
import { navigate } from '../router';
import { Card, Page } from '../ui';

export function Account(props: { email?: string; onLogout: () => void }) {
  const logout = async () => {
    try {
      await api('post', '/api/auth/logout');
    } catch {
      /* the session is ended locally either way */
    }
    session.clear();
    props.onLogout();
    navigate('/app/login', true);
  };
  return (
    <Page title={t('nav.account')}>
      <Card title={t('account.language')}>
        <LanguagePicker />
      </Card>
      <Card title={t('account.security')}>
        <p>{props.email}</p>
        <div class="row">
          <a class="button" href="/app/password">
            {t('password.title')}
          </a>
          <button class="button" id="logout" onClick={logout}>
            {t('nav.logout')}
          </button>
        </div>
      </Card>
      <Card title={t('theft.title')}>
        <p>{t('theft.short')}</p>
        <a class="button danger" href="/app/theft">
          {t('theft.start')}
        </a>
      </Card>
    </Page>
  );
}
