import { authFetch, errorFrom } from '../api';

/** Fetch `url` with the token and hand it to the browser as a download named `filename`. */
export async function download(url: string, filename: string): Promise<void> {
  const response = await authFetch(url);
  if (!response.ok) throw await errorFrom(response);
  const blobUrl = URL.createObjectURL(await response.blob());
  const link = document.createElement('a');
  link.href = blobUrl;
  link.download = filename;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(blobUrl), 10_000);
}
