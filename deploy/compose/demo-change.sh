#!/usr/bin/env bash
# Changes rows in the compose stack's PostgreSQL and shows the change arrive in
# the fake Userflow. Run from anywhere once `docker compose up -d` is healthy:
#
#   deploy/compose/demo-change.sh
#
# Needs docker (compose v2) and curl on the host; FAKE_URL overrides where the
# fake's admin surface is (default http://127.0.0.1:8080, the published port).
set -euo pipefail
cd "$(dirname "$0")/../.."
FAKE_URL="${FAKE_URL:-http://127.0.0.1:8080}"
stamp="$(date +%H%M%S)"
name="Ada Lovelace ($stamp)"

echo "== in PostgreSQL: rename user 1, upgrade company 2, a new user joins company 3"
docker compose exec -T postgres psql -v ON_ERROR_STOP=1 -U postgres -d app <<SQL
UPDATE users SET full_name = '$name' WHERE id = 1;
UPDATE companies SET plan = 'enterprise-$stamp' WHERE id = 2;
INSERT INTO users (id, email, full_name) VALUES (100 + (random() * 1000000)::int, 'new-$stamp@initech.test', 'New $stamp')
  RETURNING id, email, full_name;
INSERT INTO memberships (user_id, company_id, role)
  SELECT id, 3, 'member' FROM users WHERE email = 'new-$stamp@initech.test';
SQL

echo "== in the fake Userflow ($FAKE_URL/_admin/state): waiting for user 1's new name"
for _ in $(seq 1 60); do
  state="$(curl -fsS "$FAKE_URL/_admin/state")" || state=""
  if grep -qF "$name" <<<"$state"; then
    if command -v python3 >/dev/null; then
      python3 - "$state" "$stamp" <<'PY'
import json, sys
state, stamp = json.loads(sys.argv[1]), sys.argv[2]
print("user 1:   ", json.dumps(state["users"]["1"]["attributes"]))
print("company 2:", json.dumps(state["groups"]["2"]["attributes"]))
for u in state["users"].values():
    if stamp in str(u["attributes"].get("email", "")):
        print("new user: ", u["id"], json.dumps(u["attributes"]))
        print("  member of:", [m["group_id"] for m in state["memberships"] if m["user_id"] == u["id"]])
PY
    else
      echo "$state"
    fi
    echo "== arrived"
    exit 0
  fi
  sleep 1
done
echo "the change did not arrive within 60s; see: docker compose logs userflow-sync connect" >&2
exit 1
