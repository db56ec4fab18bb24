#!/bin/sh
# Makes deploy/secrets/ for docker-compose.yml: random passwords and keys (kept if already
# there), and empty files for the optional ones (Twilio auth token, VAPID private key: empty
# means not set). Put the real Twilio token in deploy/secrets/twilio_auth_token yourself.
# The directory is git-ignored; back it up apart from the database (README "Backups").
set -eu
dir="$(dirname "$0")/secrets"
mkdir -p "$dir"
chmod 700 "$dir"
for name in db_superuser_password db_owner_password db_app_password redis_password metrics_token secret_key audit_key; do
  if [ ! -s "$dir/$name" ]; then
    (umask 077; head -c 32 /dev/urandom | base64 | tr -d '/+=\n' > "$dir/$name")
  fi
done
for name in twilio_auth_token vapid_private_key; do
  [ -e "$dir/$name" ] || (umask 077; : > "$dir/$name")
done
# Redis's users (its --aclfile): unauthenticated clients may only PING (the health check);
# the service is `typhoon`, with the password above, on its own keys and channels (the
# default TYPHOON_REDIS_PREFIX), without the administrative and dangerous commands (CONFIG,
# FLUSHALL, KEYS, DEBUG, MONITOR, ...). Rewritten each time from the password file.
(umask 077; {
  echo "user default on nopass resetchannels -@all +ping"
  echo "user typhoon on >$(cat "$dir/redis_password") ~typhoon:* &typhoon:* +@all -@admin -@dangerous"
} > "$dir/redis_acl")
# The containers run as uid 10001 (typhoon) and 999 (postgres): the files must be readable.
chmod 644 "$dir"/*
echo "secrets in $dir: $(ls "$dir" | tr '\n' ' ')"
