"""Write `.env` beside docker-compose.yml with fresh development secrets (standard library only).

    python3 deploy/generate_env.py            # refuses to overwrite an existing .env
    python3 deploy/generate_env.py --force

The API token itself is `THREADLINE_API_TOKEN` (for the CLI's `docker compose run --rm
threadline ...`, grpcurl and the like); the services are given only its SHA-256 hash
(`THREADLINE_API_TOKENS`), as `threadline.servicekit.auth` expects.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import secrets
from pathlib import Path

ENV_FILE = Path(__file__).resolve().parent.parent / ".env"


def token() -> str:
    return secrets.token_urlsafe(24)


def render() -> str:
    api_token = token()
    digest = hashlib.sha256(api_token.encode()).hexdigest()
    lines = [
        "# Threadline development secrets for docker compose. Never commit this file.",
        "# API bearer token (read,write,admin on every business number), for the CLI and grpcurl",
        f"THREADLINE_API_TOKEN={api_token}",
        f"THREADLINE_WHATSAPP_APP_SECRET={token()}",
        f"THREADLINE_WHATSAPP_VERIFY_TOKEN={token()}",
        f"THREADLINE_WHATSAPP_ACCESS_TOKEN={token()}",
        f"THREADLINE_API_TOKENS={digest}:read,write,admin:*",
        f"THREADLINE_POSTGRES_PASSWORD={token()}",
        f"THREADLINE_GRAFANA_DB_PASSWORD={token()}",
        f"THREADLINE_GRAFANA_ADMIN_PASSWORD={token()}",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="overwrite an existing .env")
    args = parser.parse_args()
    if ENV_FILE.exists() and not args.force:
        raise SystemExit(f"{ENV_FILE} exists; pass --force to replace it")
    fd = os.open(ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as env_file:
        os.fchmod(env_file.fileno(), 0o600)  # also when --force replaced a laxer file
        env_file.write(render())
    print(f"wrote {ENV_FILE} (readable only by you); the API token is THREADLINE_API_TOKEN in it")


if __name__ == "__main__":
    main()
