"""What the tests use that is not a test: fixtures' builders, real servers started on 127.0.0.1
(SMTP, an HTTP origin, redis-server, moto's S3, a live uvicorn, PostgreSQL schemas), generated
media and the shared helpers. May import app.*; never imports a test module."""
