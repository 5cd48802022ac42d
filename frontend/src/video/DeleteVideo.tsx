import { useMutation, useQueryClient } from '@tanstack/react-query';
import { useNavigate } from 'react-router';

import { deleteVideo } from '../api';
import { forgetVideo } from '../videos/VideoList';
import { ErrorText } from '../common/ErrorText';

export function DeleteVideo({ id, name }: { id: number; name: string }) {
  const queryClient = useQueryClient();
  const navigate = useNavigate();
  const remove = useMutation({
    mutationFn: () => deleteVideo(id),
    onSuccess: () => {
      queryClient.removeQueries({ queryKey: ['video', id] });
      forgetVideo(queryClient, id);
      navigate('/videos');
    },
  });
  const onClick = () => {
    if (window.confirm(`Delete "${name}", its transcript and summary? This cannot be undone.`)) remove.mutate();
  };
  return (
    <div>
      <button type="button" className="danger" onClick={onClick} disabled={remove.isPending}>
        Delete video
      </button>
      <ErrorText error={remove.error} />
    </div>
  );
}
