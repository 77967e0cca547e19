-- The seed of the docker compose stack: the tables userflow-sync syncs
-- (deploy/compose/userflow-sync.yaml), a publication for Debezium's pgoutput
-- plugin and a least-privilege replication user for the connector.
-- Runs once, when the postgres volume is empty.

CREATE TABLE companies (
    id         bigint PRIMARY KEY,
    name       text NOT NULL,
    plan       text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE users (
    id         bigint PRIMARY KEY,
    email      text NOT NULL UNIQUE,
    full_name  text,
    plan       text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE memberships (
    user_id    bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    company_id bigint NOT NULL REFERENCES companies (id) ON DELETE CASCADE,
    role       text NOT NULL DEFAULT 'member',
    PRIMARY KEY (user_id, company_id)
);

-- Full before images: an update that changes no mapped column is skipped, and
-- a delete carries the whole row.
ALTER TABLE companies   REPLICA IDENTITY FULL;
ALTER TABLE users       REPLICA IDENTITY FULL;
ALTER TABLE memberships REPLICA IDENTITY FULL;

INSERT INTO companies (id, name, plan) VALUES
    (1, 'Acme', 'enterprise'),
    (2, 'Globex', 'pro'),
    (3, 'Initech', 'free');

INSERT INTO users (id, email, full_name, plan) VALUES
    (1, 'ada@acme.test',      'Ada Lovelace',   'enterprise'),
    (2, 'grace@acme.test',    'Grace Hopper',   'enterprise'),
    (3, 'alan@globex.test',   'Alan Turing',    'pro'),
    (4, 'edsger@initech.test','Edsger Dijkstra','free');

INSERT INTO memberships (user_id, company_id, role) VALUES
    (1, 1, 'owner'),
    (2, 1, 'member'),
    (3, 2, 'owner'),
    (4, 3, 'owner'),
    (3, 1, 'viewer');

-- Debezium reads through this publication (publication.autocreate.mode:
-- disabled), so the connector's user needs no ownership of the tables.
CREATE PUBLICATION userflow_sync FOR TABLE public.users, public.companies, public.memberships;

CREATE ROLE debezium WITH LOGIN REPLICATION PASSWORD 'debezium';
GRANT USAGE ON SCHEMA public TO debezium;
GRANT SELECT ON public.users, public.companies, public.memberships TO debezium;
