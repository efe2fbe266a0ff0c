-- Deploy-time migration: the application role of the function app's managed identity.
-- Run by infra/hooks/postprovision.sh / .ps1 as the PostgreSQL Microsoft Entra administrator, with
-- psql variables app_role (the identity's name), app_oid (its object id), app_conn_limit and
-- platform_db. Idempotent: every statement checks before it creates, so re-running changes nothing.
-- Identifiers are quoted with :"var" (quote_ident) and literals with :'var' (quote_literal).
--
-- Roles are created with the documented Entra functions (isAdmin false: a regular user, not a
-- member of azure_pg_admin, no CREATEROLE / CREATEDB):
-- https://learn.microsoft.com/azure/postgresql/flexible-server/how-to-manage-azure-ad-users
\set ON_ERROR_STOP on
\connect postgres

-- 1. The role, mapped to the identity by object id (no display-name ambiguity).
SELECT pg_catalog.pgaadauth_create_principal_with_oid(:'app_role', :'app_oid', 'service', false, false)
WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'app_role');

-- A role left by an older template, where the identity itself was an Entra administrator: make it
-- a regular Entra role again (security label without "admin", out of azure_pg_admin).
SELECT set_config('medallion.app_role', :'app_role', false), set_config('medallion.app_oid', :'app_oid', false),
       set_config('medallion.app_conn_limit', :'app_conn_limit', false), set_config('medallion.platform_db', :'platform_db', false);
DO $$
DECLARE
  r text := current_setting('medallion.app_role');
BEGIN
  IF EXISTS (SELECT 1 FROM pg_catalog.pg_auth_members m JOIN pg_catalog.pg_roles g ON g.oid = m.roleid
             JOIN pg_catalog.pg_roles u ON u.oid = m.member WHERE g.rolname = 'azure_pg_admin' AND u.rolname = r) THEN
    EXECUTE format('SECURITY LABEL FOR "pgaadauth" ON ROLE %I IS %L', r,
                   format('aadauth,oid=%s,type=service', current_setting('medallion.app_oid')));
    EXECUTE format('REVOKE azure_pg_admin FROM %I', r);
  END IF;
END $$;

-- 2. No superuser-like attribute, whatever created the role.
DO $$
DECLARE
  r pg_catalog.pg_roles%ROWTYPE;
BEGIN
  SELECT * INTO r FROM pg_catalog.pg_roles WHERE rolname = current_setting('medallion.app_role');
  IF r.rolsuper OR r.rolcreaterole OR r.rolcreatedb OR r.rolreplication OR r.rolbypassrls THEN
    RAISE EXCEPTION 'role % has superuser-like attributes (super %, createrole %, createdb %, replication %, bypassrls %)',
      r.rolname, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolreplication, r.rolbypassrls;
  END IF;
END $$;

-- 3. Connection limit (the budget the Bicep derived) and UTC sessions (PgBouncer in transaction
-- mode refuses start-up options, so the role carries the time zone). Changing another role needs
-- ADMIN OPTION on it; where the administrator lacks it, say so and carry on.
DO $$
DECLARE
  r text := current_setting('medallion.app_role');
BEGIN
  EXECUTE format('ALTER ROLE %I CONNECTION LIMIT %s', r, current_setting('medallion.app_conn_limit')::integer);
  EXECUTE format('ALTER ROLE %I IN DATABASE %I SET timezone TO %L', r, current_setting('medallion.platform_db'), 'UTC');
EXCEPTION WHEN insufficient_privilege THEN
  RAISE WARNING 'could not set the connection limit / time zone of role %: %', r, SQLERRM;
END $$;

-- 4. In the platform database: CONNECT, and the platform's schemas, owned by the role where the
-- administrator may hand them over, else with every privilege on them and on what they will hold.
\connect :"platform_db"
GRANT CONNECT ON DATABASE :"platform_db" TO :"app_role";

SELECT set_config('medallion.app_role', :'app_role', false);
DO $$
DECLARE
  r text := current_setting('medallion.app_role');
  s text;
BEGIN
  FOREACH s IN ARRAY ARRAY['ops', 'silver', 'gold', 'gold_state', 'stg_pipedrive', 'stg_zendesk', 'core'] LOOP
    EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I', s);
    BEGIN
      EXECUTE format('ALTER SCHEMA %I OWNER TO %I', s, r);
    EXCEPTION WHEN insufficient_privilege THEN
      RAISE NOTICE 'schema % stays owned by %; granting instead', s, current_user;
    END;
    EXECUTE format('GRANT ALL ON SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT ALL ON ALL TABLES IN SCHEMA %I TO %I', s, r);
    EXECUTE format('GRANT ALL ON ALL SEQUENCES IN SCHEMA %I TO %I', s, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT ALL ON TABLES TO %I', s, r);
    EXECUTE format('ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT ALL ON SEQUENCES TO %I', s, r);
  END LOOP;
END $$;
