import { useTitle } from '../common/useTitle';
import { LinkForm } from './LinkForm';
import { Prices } from './Prices';
import { UploadPanel } from './UploadPanel';
import { VideoList } from './VideoList';

export function VideosPage() {
  useTitle('Your videos');
  return (
    <div className="two-columns">
      <section aria-labelledby="videos-title" className="main-column">
        <h1 id="videos-title">Your videos</h1>
        <VideoList />
      </section>
      <aside className="side-column" aria-label="Add videos and prices">
        <UploadPanel />
        <LinkForm />
        <Prices />
      </aside>
    </div>
  );
}
