#!/bin/sh
# Registers deploy/compose/debezium/connector.json with Kafka Connect once, and
# waits until the connector runs. Run by docker-compose.yml's one-shot
# connector-registration service (curlimages/curl); safe to run again.
set -eu
CONNECT_URL="${CONNECT_URL:-http://connect:8083}"
FILE="${CONNECTOR_FILE:-/debezium/connector.json}"
NAME="app-postgres"   # connector.json's "name"

i=0
until curl -fsS -o /dev/null "$CONNECT_URL/connectors"; do
  i=$((i + 1)); [ "$i" -lt 60 ] || { echo "Kafka Connect did not answer at $CONNECT_URL" >&2; exit 1; }
  sleep 2
done

status=$(curl -sS -o /dev/null -w '%{http_code}' "$CONNECT_URL/connectors/$NAME")
if [ "$status" = 200 ]; then
  echo "connector $NAME already registered"
else
  curl -fsS -X POST -H 'Content-Type: application/json' --data "@$FILE" "$CONNECT_URL/connectors"
  echo
fi

# Running: the connector and its one task both say RUNNING.
i=0
while :; do
  s=$(curl -fsS "$CONNECT_URL/connectors/$NAME/status" || true)
  [ "$(echo "$s" | grep -o '"state":"RUNNING"' | wc -l)" -ge 2 ] && break
  i=$((i + 1)); [ "$i" -lt 60 ] || { echo "connector $NAME is not running: $s" >&2; exit 1; }
  sleep 2
done
echo "connector $NAME running"
