"""The backend the settings name: above both backends, so neither imports the other."""

from app.config import Settings
from app.storage.base import Storage
from app.storage.local import LocalStorage


def make_storage(settings: Settings) -> Storage:
    """LocalStorage under MEDIA_ROOT, or S3Storage (boto3 is imported only when S3 is used)."""
    if settings.storage_backend == "s3":
        from app.storage.s3 import S3Storage

        return S3Storage.from_settings(settings)
    return LocalStorage(settings.media_root)
