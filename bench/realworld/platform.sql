-- platform.sql — the parts of Supabase's hosted platform that real projects' migrations assume.
--
-- The real-world corpus runner (bench/src/bin/realworld.rs) copies this file as the first
-- migration (00000000000000_platform.sql) of every project it loads. It runs after
-- crates/pg-harness/sql/supabase_base.sql (roles anon/authenticated/service_role/authenticator,
-- auth.users, auth.uid()/role()/jwt()) as the cluster's superuser on PostgreSQL 15.
--
-- Only plain PostgreSQL 15 + contrib is assumed. Where Supabase ships an extension that contrib
-- has (uuid-ossp, pgcrypto, pg_trgm, citext, …) it is created for real in schema `extensions`.
-- Where it does not (pg_net, pg_cron, pgjwt, pgsodium, supabase_vault, pg_graphql, …) the
-- extension is *registered* as an empty placeholder, so a migration's
-- `create extension if not exists pg_net` is a no-op as on Supabase, and the objects projects
-- call are stubbed with Supabase's names and signatures (they do nothing, or raise when called).
-- Nothing here has data, and nothing is granted beyond what Supabase grants.
--
-- Idempotent: every statement checks first, so a second run changes nothing.

-- ---------------------------------------------------------------------------
-- Roles Supabase creates (owners in `supabase db dump` output, grants in migrations).
-- NOLOGIN and without SUPERUSER/BYPASSRLS here: they own nothing and log in nowhere.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  r text;
BEGIN
  FOREACH r IN ARRAY ARRAY[
    'postgres', 'supabase_admin', 'supabase_auth_admin', 'supabase_storage_admin',
    'supabase_realtime_admin', 'supabase_replication_admin', 'supabase_read_only_user',
    'supabase_functions_admin', 'supabase_etl_admin', 'dashboard_user', 'pgbouncer',
    'pgsodium_keyholder', 'pgsodium_keyiduser', 'pgsodium_keymaker', 'supabase_privileged_role'
  ] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
      EXECUTE format('CREATE ROLE %I NOLOGIN', r);
    END IF;
  END LOOP;
END
$$;

-- ---------------------------------------------------------------------------
-- Schemas
-- ---------------------------------------------------------------------------
CREATE SCHEMA IF NOT EXISTS extensions;
CREATE SCHEMA IF NOT EXISTS storage;
CREATE SCHEMA IF NOT EXISTS graphql;
CREATE SCHEMA IF NOT EXISTS graphql_public;
CREATE SCHEMA IF NOT EXISTS realtime;
CREATE SCHEMA IF NOT EXISTS vault;
CREATE SCHEMA IF NOT EXISTS pgsodium;
CREATE SCHEMA IF NOT EXISTS net;
CREATE SCHEMA IF NOT EXISTS cron;
CREATE SCHEMA IF NOT EXISTS supabase_functions;
CREATE SCHEMA IF NOT EXISTS pgbouncer;

GRANT USAGE ON SCHEMA extensions, storage, graphql, graphql_public, realtime
  TO anon, authenticated, service_role;
GRANT USAGE ON SCHEMA extensions TO postgres, dashboard_user;

-- Supabase's database-level search_path: extension functions resolve unqualified.
DO $$
BEGIN
  EXECUTE format('ALTER DATABASE %I SET search_path TO "$user", public, extensions',
                 current_database());
END
$$;
SET search_path TO "$user", public, extensions;

-- ---------------------------------------------------------------------------
-- Extensions: those a new Supabase project has preinstalled, for real in `extensions` when
-- contrib has them (uuid-ossp, pgcrypto, pg_stat_statements). Other contrib extensions
-- (moddatetime, pg_trgm, citext, …) are left to the migrations, which create them where they
-- want them, as on Supabase.
-- ---------------------------------------------------------------------------
DO $$
DECLARE
  e text;
BEGIN
  FOREACH e IN ARRAY ARRAY[
    'uuid-ossp', 'pgcrypto', 'pg_stat_statements'
  ] LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = e)
       AND EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = e) THEN
      BEGIN
        EXECUTE format('CREATE EXTENSION %I WITH SCHEMA extensions', e);
      EXCEPTION WHEN others THEN
        RAISE NOTICE 'platform.sql: extension % not created: %', e, SQLERRM;
      END;
    END IF;
  END LOOP;
END
$$;

-- Extensions Supabase has and contrib does not: registered so that
-- `CREATE EXTENSION IF NOT EXISTS x` succeeds (a NOTICE, as on Supabase where they are
-- preinstalled or one click away). They own no objects; what projects call is stubbed below.
-- A project that "moves" one (`DROP EXTENSION pg_net; CREATE EXTENSION IF NOT EXISTS pg_net
-- WITH SCHEMA extensions`, as Supabase's security advisor suggests) gets it registered again
-- right after the DROP, by the event trigger below. A plain `CREATE EXTENSION x` without
-- IF NOT EXISTS still fails ("already exists"), as it would for a preinstalled one.
CREATE OR REPLACE FUNCTION extensions.platform_register_placeholder_extensions()
RETURNS void
LANGUAGE plpgsql
AS $fn$
DECLARE
  e text;
  s text;
BEGIN
  FOR e, s IN SELECT * FROM (VALUES
    ('pg_net', 'extensions'), ('pg_cron', 'pg_catalog'), ('pgjwt', 'extensions'),
    ('pgsodium', 'pgsodium'), ('supabase_vault', 'vault'), ('pg_graphql', 'graphql'),
    ('pgtap', 'extensions'), ('http', 'extensions'), ('pg_hashids', 'extensions'),
    ('wrappers', 'extensions'), ('pg_stat_monitor', 'extensions'), ('pgaudit', 'public'),
    ('plpgsql_check', 'extensions'), ('index_advisor', 'extensions'), ('hypopg', 'extensions'),
    ('pg_jsonschema', 'extensions'), ('pgmq', 'pgmq'), ('supautils', 'extensions'),
    ('pg_tle', 'pgtle')
  ) AS v(e, s) LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_extension WHERE extname = e)
       AND NOT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = e) THEN
      IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = s) THEN
        EXECUTE format('CREATE SCHEMA %I', s);
      END IF;
      INSERT INTO pg_catalog.pg_extension
        (oid, extname, extowner, extnamespace, extrelocatable, extversion, extconfig, extcondition)
      VALUES (
        (SELECT greatest(max(oid::int8), 900000) + 1 FROM pg_catalog.pg_extension)::oid,
        e, (SELECT oid FROM pg_roles WHERE rolname = current_user),
        (SELECT oid FROM pg_namespace WHERE nspname = s), false, '0.0-placeholder', NULL, NULL);
    END IF;
  END LOOP;
END
$fn$;
REVOKE ALL ON FUNCTION extensions.platform_register_placeholder_extensions() FROM PUBLIC;

SELECT extensions.platform_register_placeholder_extensions();

CREATE OR REPLACE FUNCTION extensions.platform_placeholder_after_drop()
RETURNS event_trigger
LANGUAGE plpgsql
AS $fn$
BEGIN
  PERFORM extensions.platform_register_placeholder_extensions();
END
$fn$;
REVOKE ALL ON FUNCTION extensions.platform_placeholder_after_drop() FROM PUBLIC;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_event_trigger WHERE evtname = 'platform_placeholder_after_drop') THEN
    CREATE EVENT TRIGGER platform_placeholder_after_drop ON ddl_command_end
      WHEN TAG IN ('DROP EXTENSION')
      EXECUTE FUNCTION extensions.platform_placeholder_after_drop();
  END IF;
END
$$;

-- ---------------------------------------------------------------------------
-- auth: the rest of GoTrue's auth.users, the tables projects join, and auth.email().
-- ---------------------------------------------------------------------------
ALTER TABLE auth.users
  ADD COLUMN IF NOT EXISTS instance_id uuid,
  ADD COLUMN IF NOT EXISTS aud varchar(255),
  ADD COLUMN IF NOT EXISTS role varchar(255),
  ADD COLUMN IF NOT EXISTS encrypted_password varchar(255),
  ADD COLUMN IF NOT EXISTS email_confirmed_at timestamptz,
  ADD COLUMN IF NOT EXISTS invited_at timestamptz,
  ADD COLUMN IF NOT EXISTS confirmation_token varchar(255),
  ADD COLUMN IF NOT EXISTS confirmation_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS recovery_token varchar(255),
  ADD COLUMN IF NOT EXISTS recovery_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS email_change_token_new varchar(255),
  ADD COLUMN IF NOT EXISTS email_change varchar(255),
  ADD COLUMN IF NOT EXISTS email_change_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS last_sign_in_at timestamptz,
  ADD COLUMN IF NOT EXISTS is_super_admin boolean,
  ADD COLUMN IF NOT EXISTS updated_at timestamptz,
  ADD COLUMN IF NOT EXISTS phone text,
  ADD COLUMN IF NOT EXISTS phone_confirmed_at timestamptz,
  ADD COLUMN IF NOT EXISTS phone_change text DEFAULT '',
  ADD COLUMN IF NOT EXISTS phone_change_token varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS phone_change_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS email_change_token_current varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS email_change_confirm_status smallint DEFAULT 0,
  ADD COLUMN IF NOT EXISTS banned_until timestamptz,
  ADD COLUMN IF NOT EXISTS reauthentication_token varchar(255) DEFAULT '',
  ADD COLUMN IF NOT EXISTS reauthentication_sent_at timestamptz,
  ADD COLUMN IF NOT EXISTS is_sso_user boolean NOT NULL DEFAULT false,
  ADD COLUMN IF NOT EXISTS deleted_at timestamptz,
  ADD COLUMN IF NOT EXISTS is_anonymous boolean NOT NULL DEFAULT false;

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                 WHERE table_schema = 'auth' AND table_name = 'users'
                   AND column_name = 'confirmed_at') THEN
    ALTER TABLE auth.users ADD COLUMN confirmed_at timestamptz
      GENERATED ALWAYS AS (LEAST(email_confirmed_at, phone_confirmed_at)) STORED;
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS auth.identities (
  provider_id text NOT NULL,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  identity_data jsonb NOT NULL,
  provider text NOT NULL,
  last_sign_in_at timestamptz,
  created_at timestamptz,
  updated_at timestamptz,
  email text GENERATED ALWAYS AS (lower(identity_data ->> 'email')) STORED,
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  UNIQUE (provider_id, provider)
);

CREATE TABLE IF NOT EXISTS auth.sessions (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  created_at timestamptz,
  updated_at timestamptz,
  factor_id uuid,
  aal text,
  not_after timestamptz,
  refreshed_at timestamp,
  user_agent text,
  ip inet,
  tag text
);

CREATE TABLE IF NOT EXISTS auth.refresh_tokens (
  instance_id uuid,
  id bigserial PRIMARY KEY,
  token varchar(255),
  user_id varchar(255),
  revoked boolean,
  created_at timestamptz,
  updated_at timestamptz,
  parent varchar(255),
  session_id uuid REFERENCES auth.sessions (id) ON DELETE CASCADE
);

CREATE TABLE IF NOT EXISTS auth.audit_log_entries (
  instance_id uuid,
  id uuid PRIMARY KEY,
  payload json,
  created_at timestamptz,
  ip_address varchar(64) NOT NULL DEFAULT ''
);

CREATE TABLE IF NOT EXISTS auth.mfa_factors (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  friendly_name text,
  factor_type text NOT NULL DEFAULT 'totp',
  status text NOT NULL DEFAULT 'unverified',
  created_at timestamptz NOT NULL DEFAULT now(),
  updated_at timestamptz NOT NULL DEFAULT now(),
  secret text
);

CREATE TABLE IF NOT EXISTS auth.mfa_amr_claims (
  session_id uuid NOT NULL REFERENCES auth.sessions (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  updated_at timestamptz NOT NULL,
  authentication_method text NOT NULL,
  id uuid PRIMARY KEY,
  UNIQUE (session_id, authentication_method)
);

CREATE TABLE IF NOT EXISTS auth.mfa_challenges (
  id uuid PRIMARY KEY,
  factor_id uuid NOT NULL REFERENCES auth.mfa_factors (id) ON DELETE CASCADE,
  created_at timestamptz NOT NULL,
  verified_at timestamptz,
  ip_address inet NOT NULL,
  otp_code text
);

CREATE TABLE IF NOT EXISTS auth.instances (
  id uuid PRIMARY KEY,
  uuid uuid,
  raw_base_config text,
  created_at timestamptz,
  updated_at timestamptz
);

CREATE TABLE IF NOT EXISTS auth.flow_state (
  id uuid PRIMARY KEY,
  user_id uuid,
  auth_code text NOT NULL,
  code_challenge_method text NOT NULL,
  code_challenge text NOT NULL,
  provider_type text NOT NULL,
  provider_access_token text,
  provider_refresh_token text,
  created_at timestamptz,
  updated_at timestamptz,
  authentication_method text NOT NULL,
  auth_code_issued_at timestamptz
);

CREATE TABLE IF NOT EXISTS auth.one_time_tokens (
  id uuid PRIMARY KEY,
  user_id uuid NOT NULL REFERENCES auth.users (id) ON DELETE CASCADE,
  token_type text NOT NULL,
  token_hash text NOT NULL,
  relates_to text NOT NULL,
  created_at timestamp NOT NULL DEFAULT now(),
  updated_at timestamp NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION auth.email() RETURNS text
LANGUAGE sql STABLE
AS $$
  SELECT coalesce(
    nullif(current_setting('request.jwt.claim.email', true), ''),
    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'email')
  )::text
$$;

GRANT EXECUTE ON FUNCTION auth.email() TO anon, authenticated, service_role;
GRANT SELECT ON auth.users TO service_role;

-- ---------------------------------------------------------------------------
-- storage: buckets and objects with Supabase's columns, RLS on (as on the platform), and the
-- path helpers policies call.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS storage.buckets (
  id text PRIMARY KEY,
  name text NOT NULL,
  owner uuid,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  public boolean DEFAULT false,
  avif_autodetection boolean DEFAULT false,
  file_size_limit bigint,
  allowed_mime_types text[],
  owner_id text
);
CREATE UNIQUE INDEX IF NOT EXISTS bname ON storage.buckets (name);

CREATE TABLE IF NOT EXISTS storage.objects (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  bucket_id text REFERENCES storage.buckets (id),
  name text,
  owner uuid,
  created_at timestamptz DEFAULT now(),
  updated_at timestamptz DEFAULT now(),
  last_accessed_at timestamptz DEFAULT now(),
  metadata jsonb,
  path_tokens text[] GENERATED ALWAYS AS (string_to_array(name, '/')) STORED,
  version text,
  owner_id text,
  user_metadata jsonb
);
CREATE UNIQUE INDEX IF NOT EXISTS bucketid_objname ON storage.objects (bucket_id, name);

CREATE TABLE IF NOT EXISTS storage.s3_multipart_uploads (
  id text PRIMARY KEY,
  in_progress_size bigint NOT NULL DEFAULT 0,
  upload_signature text NOT NULL,
  bucket_id text NOT NULL REFERENCES storage.buckets (id),
  key text COLLATE "C" NOT NULL,
  version text NOT NULL,
  owner_id text,
  created_at timestamptz NOT NULL DEFAULT now(),
  user_metadata jsonb
);

CREATE TABLE IF NOT EXISTS storage.s3_multipart_uploads_parts (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  upload_id text NOT NULL REFERENCES storage.s3_multipart_uploads (id) ON DELETE CASCADE,
  size bigint NOT NULL DEFAULT 0,
  part_number integer NOT NULL,
  bucket_id text NOT NULL REFERENCES storage.buckets (id),
  key text COLLATE "C" NOT NULL,
  etag text NOT NULL,
  owner_id text,
  version text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS storage.migrations (
  id integer PRIMARY KEY,
  name varchar(100) UNIQUE NOT NULL,
  hash varchar(40) NOT NULL,
  executed_at timestamp DEFAULT CURRENT_TIMESTAMP
);

ALTER TABLE storage.buckets ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.migrations ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.s3_multipart_uploads ENABLE ROW LEVEL SECURITY;
ALTER TABLE storage.s3_multipart_uploads_parts ENABLE ROW LEVEL SECURITY;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION storage.foldername(name text) RETURNS text[]
LANGUAGE plpgsql
AS $$
DECLARE
  _parts text[];
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  RETURN _parts[1:array_length(_parts, 1) - 1];
END
$$;

CREATE OR REPLACE FUNCTION storage.filename(name text) RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
  _parts text[];
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  RETURN _parts[array_length(_parts, 1)];
END
$$;

CREATE OR REPLACE FUNCTION storage.extension(name text) RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
  _parts text[];
  _filename text;
BEGIN
  SELECT string_to_array(name, '/') INTO _parts;
  SELECT _parts[array_length(_parts, 1)] INTO _filename;
  RETURN reverse(split_part(reverse(_filename), '.', 1));
END
$$;

GRANT EXECUTE ON FUNCTION storage.foldername(text), storage.filename(text), storage.extension(text)
  TO anon, authenticated, service_role;

-- ---------------------------------------------------------------------------
-- realtime: the publication `alter publication supabase_realtime add table …` needs, and the
-- broadcast-authorization table and helper.
-- ---------------------------------------------------------------------------
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_publication WHERE pubname = 'supabase_realtime') THEN
    CREATE PUBLICATION supabase_realtime;
  END IF;
END
$$;

CREATE TABLE IF NOT EXISTS realtime.messages (
  id bigserial,
  topic text NOT NULL,
  extension text NOT NULL,
  payload jsonb,
  event text,
  private boolean DEFAULT false,
  updated_at timestamp NOT NULL DEFAULT now(),
  inserted_at timestamp NOT NULL DEFAULT now(),
  PRIMARY KEY (id, inserted_at)
);
ALTER TABLE realtime.messages ENABLE ROW LEVEL SECURITY;
GRANT SELECT, INSERT, UPDATE ON realtime.messages TO anon, authenticated, service_role;

CREATE OR REPLACE FUNCTION realtime.topic() RETURNS text
LANGUAGE sql STABLE
AS $$ SELECT nullif(current_setting('realtime.topic', true), '')::text $$;

CREATE OR REPLACE FUNCTION realtime.send(payload jsonb, event text, topic text, private boolean DEFAULT true)
RETURNS void
LANGUAGE plpgsql
AS $$ BEGIN NULL; END $$;

CREATE OR REPLACE FUNCTION realtime.broadcast_changes(
  topic_name text, event_name text, operation text, table_name text, table_schema text,
  new record, old record, level text DEFAULT 'ROW')
RETURNS void
LANGUAGE plpgsql
AS $$ BEGIN NULL; END $$;

-- ---------------------------------------------------------------------------
-- pg_net, database webhooks, pg_cron: stubs with the real signatures. Calling them does
-- nothing (they return an id, as the real ones return a request or job id).
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS net._http_response (
  id bigint,
  status_code integer,
  content_type text,
  headers jsonb,
  content text,
  timed_out boolean,
  error_msg text,
  created timestamptz NOT NULL DEFAULT now()
);

CREATE OR REPLACE FUNCTION net.http_post(
  url text, body jsonb DEFAULT '{}'::jsonb, params jsonb DEFAULT '{}'::jsonb,
  headers jsonb DEFAULT '{"Content-Type": "application/json"}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT 0::bigint $$;

CREATE OR REPLACE FUNCTION net.http_get(
  url text, params jsonb DEFAULT '{}'::jsonb, headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT 0::bigint $$;

CREATE OR REPLACE FUNCTION net.http_delete(
  url text, params jsonb DEFAULT '{}'::jsonb, headers jsonb DEFAULT '{}'::jsonb,
  timeout_milliseconds integer DEFAULT 5000)
RETURNS bigint
LANGUAGE sql
AS $$ SELECT 0::bigint $$;

CREATE OR REPLACE FUNCTION supabase_functions.http_request() RETURNS trigger
LANGUAGE plpgsql
AS $$ BEGIN RETURN NEW; END $$;

CREATE TABLE IF NOT EXISTS supabase_functions.hooks (
  id bigserial PRIMARY KEY,
  hook_table_id integer NOT NULL,
  hook_name text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  request_id bigint
);

CREATE TABLE IF NOT EXISTS cron.job (
  jobid bigserial PRIMARY KEY,
  schedule text NOT NULL,
  command text NOT NULL,
  nodename text NOT NULL DEFAULT 'localhost',
  nodeport integer NOT NULL DEFAULT 5432,
  database text NOT NULL DEFAULT current_database(),
  username text NOT NULL DEFAULT current_user,
  active boolean NOT NULL DEFAULT true,
  jobname text
);

CREATE TABLE IF NOT EXISTS cron.job_run_details (
  jobid bigint,
  runid bigserial PRIMARY KEY,
  job_pid integer,
  database text,
  username text,
  command text,
  status text,
  return_message text,
  start_time timestamptz,
  end_time timestamptz
);

CREATE OR REPLACE FUNCTION cron.schedule(job_name text, schedule text, command text)
RETURNS bigint
LANGUAGE sql
AS $$
  INSERT INTO cron.job (jobname, schedule, command) VALUES (job_name, schedule, command)
  RETURNING jobid
$$;

CREATE OR REPLACE FUNCTION cron.schedule(schedule text, command text)
RETURNS bigint
LANGUAGE sql
AS $$ INSERT INTO cron.job (schedule, command) VALUES (schedule, command) RETURNING jobid $$;

CREATE OR REPLACE FUNCTION cron.unschedule(job_name text) RETURNS boolean
LANGUAGE sql
AS $$ WITH d AS (DELETE FROM cron.job WHERE jobname = job_name RETURNING 1)
      SELECT count(*) > 0 FROM d $$;

CREATE OR REPLACE FUNCTION cron.unschedule(job_id bigint) RETURNS boolean
LANGUAGE sql
AS $$ WITH d AS (DELETE FROM cron.job WHERE jobid = job_id RETURNING 1)
      SELECT count(*) > 0 FROM d $$;

-- pgmq (Supabase Queues): queue management and messaging entry points, as no-ops.
CREATE SCHEMA IF NOT EXISTS pgmq;
CREATE TABLE IF NOT EXISTS pgmq.meta (
  queue_name varchar UNIQUE NOT NULL,
  is_partitioned boolean NOT NULL DEFAULT false,
  is_unlogged boolean NOT NULL DEFAULT false,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE OR REPLACE FUNCTION pgmq.create(queue_name text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO pgmq.meta (queue_name) VALUES (queue_name) ON CONFLICT DO NOTHING $$;
CREATE OR REPLACE FUNCTION pgmq.create_unlogged(queue_name text) RETURNS void
LANGUAGE sql AS $$ INSERT INTO pgmq.meta (queue_name, is_unlogged) VALUES (queue_name, true) ON CONFLICT DO NOTHING $$;
CREATE OR REPLACE FUNCTION pgmq.drop_queue(queue_name text) RETURNS boolean
LANGUAGE sql AS $$ WITH d AS (DELETE FROM pgmq.meta m WHERE m.queue_name = drop_queue.queue_name RETURNING 1) SELECT count(*) > 0 FROM d $$;
CREATE OR REPLACE FUNCTION pgmq.send(queue_name text, msg jsonb, delay integer DEFAULT 0)
RETURNS SETOF bigint LANGUAGE sql AS $$ SELECT 0::bigint $$;
CREATE OR REPLACE FUNCTION pgmq.send_batch(queue_name text, msgs jsonb[], delay integer DEFAULT 0)
RETURNS SETOF bigint LANGUAGE sql AS $$ SELECT 0::bigint FROM unnest(msgs) $$;
CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_id bigint) RETURNS boolean
LANGUAGE sql AS $$ SELECT false $$;
CREATE OR REPLACE FUNCTION pgmq.delete(queue_name text, msg_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql AS $$ SELECT NULL::bigint WHERE false $$;
CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_id bigint) RETURNS boolean
LANGUAGE sql AS $$ SELECT false $$;
CREATE OR REPLACE FUNCTION pgmq.archive(queue_name text, msg_ids bigint[]) RETURNS SETOF bigint
LANGUAGE sql AS $$ SELECT NULL::bigint WHERE false $$;
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
                 WHERE n.nspname = 'pgmq' AND t.typname = 'message_record') THEN
    CREATE TYPE pgmq.message_record AS (
      msg_id bigint, read_ct integer, enqueued_at timestamptz, vt timestamptz, message jsonb);
  END IF;
END
$$;
CREATE OR REPLACE FUNCTION pgmq.read(queue_name text, vt integer, qty integer)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $$ SELECT NULL::pgmq.message_record WHERE false $$;
CREATE OR REPLACE FUNCTION pgmq.pop(queue_name text)
RETURNS SETOF pgmq.message_record LANGUAGE sql AS $$ SELECT NULL::pgmq.message_record WHERE false $$;
CREATE OR REPLACE FUNCTION pgmq.metrics(queue_name text)
RETURNS TABLE (queue_name text, queue_length bigint, newest_msg_age_sec integer,
               oldest_msg_age_sec integer, total_messages bigint, scrape_time timestamptz)
LANGUAGE sql AS $$ SELECT metrics.queue_name, 0::bigint, NULL::int, NULL::int, 0::bigint, now() $$;

-- ---------------------------------------------------------------------------
-- vault (supabase_vault): secrets table, the decrypted view and create/update_secret.
-- Stored in clear here: nothing is ever stored.
-- ---------------------------------------------------------------------------
CREATE TABLE IF NOT EXISTS vault.secrets (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  name text,
  description text NOT NULL DEFAULT '',
  secret text NOT NULL,
  key_id uuid,
  nonce bytea,
  created_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  updated_at timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE UNIQUE INDEX IF NOT EXISTS secrets_name_idx ON vault.secrets (name) WHERE name IS NOT NULL;

CREATE OR REPLACE VIEW vault.decrypted_secrets AS
  SELECT id, name, description, secret, secret AS decrypted_secret, key_id, nonce,
         created_at, updated_at
  FROM vault.secrets;

CREATE OR REPLACE FUNCTION vault.create_secret(
  new_secret text, new_name text DEFAULT NULL, new_description text DEFAULT '',
  new_key_id uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE sql
AS $$
  INSERT INTO vault.secrets (secret, name, description, key_id)
  VALUES (new_secret, new_name, new_description, new_key_id)
  RETURNING id
$$;

CREATE OR REPLACE FUNCTION vault.update_secret(
  secret_id uuid, new_secret text DEFAULT NULL, new_name text DEFAULT NULL,
  new_description text DEFAULT NULL, new_key_id uuid DEFAULT NULL)
RETURNS void
LANGUAGE sql
AS $$
  UPDATE vault.secrets
     SET secret = coalesce(new_secret, secret), name = coalesce(new_name, name),
         description = coalesce(new_description, description),
         key_id = coalesce(new_key_id, key_id), updated_at = now()
   WHERE id = secret_id
$$;

-- pgsodium's key table (dumps set its sequence).
CREATE SEQUENCE IF NOT EXISTS pgsodium.key_key_id_seq;
CREATE TABLE IF NOT EXISTS pgsodium.key (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  status text DEFAULT 'valid',
  created timestamptz NOT NULL DEFAULT CURRENT_TIMESTAMP,
  expires timestamptz,
  key_type text,
  key_id bigint DEFAULT nextval('pgsodium.key_key_id_seq'),
  key_context bytea DEFAULT '\x7067736f6469756d'::bytea,
  name text UNIQUE,
  associated_data text DEFAULT 'associated',
  raw_key bytea,
  raw_key_nonce bytea,
  parent_key uuid REFERENCES pgsodium.key (id),
  comment text,
  user_data text
);

-- ---------------------------------------------------------------------------
-- pgjwt (extensions.sign / verify / url_encode / url_decode), written on pgcrypto's hmac.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION extensions.url_encode(data bytea) RETURNS text
LANGUAGE sql IMMUTABLE
AS $$ SELECT translate(encode(data, 'base64'), E'+/=\n', '-_') $$;

CREATE OR REPLACE FUNCTION extensions.url_decode(data text) RETURNS bytea
LANGUAGE sql IMMUTABLE
AS $$
  SELECT decode(translate(data, '-_', '+/')
                || repeat('=', (4 - length(data) % 4) % 4), 'base64')
$$;

CREATE OR REPLACE FUNCTION extensions.algorithm_sign(signables text, secret text, algorithm text)
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  SELECT extensions.url_encode(extensions.hmac(signables, secret,
    CASE algorithm WHEN 'HS256' THEN 'sha256' WHEN 'HS384' THEN 'sha384'
                   WHEN 'HS512' THEN 'sha512' ELSE '' END))
$$;

CREATE OR REPLACE FUNCTION extensions.sign(payload json, secret text, algorithm text DEFAULT 'HS256')
RETURNS text
LANGUAGE sql IMMUTABLE
AS $$
  WITH header AS (
    SELECT extensions.url_encode(convert_to('{"alg":"' || algorithm || '","typ":"JWT"}', 'utf8')) AS d
  ), body AS (
    SELECT extensions.url_encode(convert_to(payload::text, 'utf8')) AS d
  ), signables AS (
    SELECT header.d || '.' || body.d AS d FROM header, body
  )
  SELECT signables.d || '.' || extensions.algorithm_sign(signables.d, secret, algorithm)
  FROM signables
$$;

CREATE OR REPLACE FUNCTION extensions.verify(token text, secret text, algorithm text DEFAULT 'HS256')
RETURNS TABLE (header json, payload json, valid boolean)
LANGUAGE sql IMMUTABLE
AS $$
  SELECT convert_from(extensions.url_decode(r[1]), 'utf8')::json,
         convert_from(extensions.url_decode(r[2]), 'utf8')::json,
         r[3] = extensions.algorithm_sign(r[1] || '.' || r[2], secret, algorithm)
  FROM regexp_split_to_array(token, '\.') r
$$;

-- pg_jsonschema's validators (used in CHECK constraints): accept everything here.
CREATE OR REPLACE FUNCTION extensions.json_matches_schema(schema json, instance json)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;
CREATE OR REPLACE FUNCTION extensions.jsonb_matches_schema(schema json, instance jsonb)
RETURNS boolean LANGUAGE sql IMMUTABLE AS $$ SELECT true $$;

-- ---------------------------------------------------------------------------
-- graphql_public.graphql (pg_graphql's entry point PostgREST exposes) and pgbouncer.get_auth.
-- ---------------------------------------------------------------------------
CREATE OR REPLACE FUNCTION graphql_public.graphql(
  "operationName" text DEFAULT NULL, query text DEFAULT NULL, variables jsonb DEFAULT NULL,
  extensions jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT jsonb_build_object('errors', jsonb_build_array(
        jsonb_build_object('message', 'pg_graphql is not installed'))) $$;

CREATE OR REPLACE FUNCTION graphql.resolve(
  query text, variables jsonb DEFAULT '{}', "operationName" text DEFAULT NULL,
  extensions jsonb DEFAULT NULL)
RETURNS jsonb
LANGUAGE sql
AS $$ SELECT '{}'::jsonb $$;

CREATE OR REPLACE FUNCTION pgbouncer.get_auth(p_usename text)
RETURNS TABLE (username text, password text)
LANGUAGE sql SECURITY DEFINER
SET search_path = pg_catalog
AS $$ SELECT usename::text, passwd::text FROM pg_catalog.pg_shadow WHERE usename = p_usename $$;
REVOKE ALL ON FUNCTION pgbouncer.get_auth(text) FROM PUBLIC;
