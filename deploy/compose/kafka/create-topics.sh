#!/bin/sh
# Creates the topics of the docker compose stack before Debezium and
# userflow-sync start: the three change topics with 3 partitions (so
# `docker compose up --scale userflow-sync=3` gives each instance one) and the
# dead-letter topic. Names match deploy/compose/userflow-sync.yaml.
set -eu
BOOTSTRAP="${BOOTSTRAP:-kafka:9092}"
PARTITIONS="${PARTITIONS:-3}"
for topic in app.public.users app.public.companies app.public.memberships; do
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
    --topic "$topic" --partitions "$PARTITIONS" --replication-factor 1
done
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --create --if-not-exists \
  --topic userflow-sync-dlq --partitions 1 --replication-factor 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$BOOTSTRAP" --list
