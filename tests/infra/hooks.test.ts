/**
 * The deploy-time migration (infra/hooks/postprovision.sh / .ps1 + app-role.sql): run as the Entra
 * administrator with an oss-rdbms token, it creates the app identity's application role (never an
 * administrator), grants CONNECT and the platform schemas, quotes identifiers and is idempotent.
 */
import { describe, expect, it } from 'vitest';
import { loadBicep, readRepoFile } from './bicep';

const sql = () => readRepoFile('infra/hooks/app-role.sql');
const code = () => sql().replace(/^\s*--.*$/gm, '');

describe('infra/hooks/app-role.sql', () => {
  it('creates the role by object id, not as an administrator, only when missing', () => {
    expect(code()).toContain("pg_catalog.pgaadauth_create_principal_with_oid(:'app_role', :'app_oid', 'service', false, false)");
    expect(code()).toContain("WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = :'app_role')");
    expect(code()).toContain('REVOKE azure_pg_admin FROM %I');
    expect(code()).toMatch(/rolsuper OR r\.rolcreaterole OR r\.rolcreatedb OR r\.rolreplication OR r\.rolbypassrls/);
    expect(code()).not.toMatch(/\b(CREATEROLE|SUPERUSER|CREATEDB|BYPASSRLS)\b(?! \()/);
  });

  it('grants CONNECT on the database and nothing else on it', () => {
    const grantsOnDatabase = [...code().matchAll(/GRANT\s+([A-Z, ]+)\s+ON DATABASE/g)].map((m) => m[1]!.trim());
    expect(grantsOnDatabase).toEqual(['CONNECT']);
    expect(code()).toContain('GRANT CONNECT ON DATABASE :"platform_db" TO :"app_role";');
  });

  it('creates the six platform schemas idempotently for the role', () => {
    expect(code()).toContain("ARRAY['ops', 'silver', 'gold', 'gold_state', 'stg_pipedrive', 'stg_zendesk', 'core']");
    for (const stmt of ['CREATE SCHEMA IF NOT EXISTS %I', 'ALTER SCHEMA %I OWNER TO %I', 'GRANT ALL ON SCHEMA %I TO %I', 'ALTER DEFAULT PRIVILEGES IN SCHEMA %I GRANT ALL ON TABLES TO %I']) {
      expect(code(), stmt).toContain(stmt);
    }
  });

  it('quotes every identifier (psql :"var" / format %I) and every literal (:\'var\' / %L)', () => {
    // psql variables appear only quoted: :"name" or :'name'.
    const bare = [...code().matchAll(/(?<![:'"\w]):(\w+)/g)].map((m) => m[1]).filter((v) => !['1'].includes(v!));
    expect(bare).toEqual([]);
    // Dynamic SQL in DO blocks is built with format() and %I / %L, never by concatenation.
    expect(code()).not.toMatch(/EXECUTE\s+'[^']*'\s*\|\|/);
    expect(code()).toContain('\\set ON_ERROR_STOP on');
  });

  it('sets the connection limit the Bicep derived and UTC for the role', () => {
    expect(code()).toContain("ALTER ROLE %I CONNECTION LIMIT %s");
    expect(code()).toContain("ALTER ROLE %I IN DATABASE %I SET timezone TO %L");
  });
});

describe('infra/hooks/postprovision.sh and .ps1', () => {
  it.each(['infra/hooks/postprovision.sh', 'infra/hooks/postprovision.ps1'])('%s uses the administrator\'s oss-rdbms token and the outputs of main.bicep', async (file) => {
    const text = readRepoFile(file);
    expect(text).toContain('get-access-token');
    expect(text).toContain('--resource-type oss-rdbms');
    expect(text).toContain('app-role.sql');
    const main = await loadBicep('infra/main.bicep');
    for (const name of ['POSTGRES_HOST', 'POSTGRES_DATABASE', 'POSTGRES_USER', 'AZURE_PLATFORM_IDENTITY_PRINCIPAL_ID', 'AZURE_POSTGRES_ADMIN_NAME', 'POSTGRES_APP_CONNECTION_LIMIT', 'AZURE_POSTGRES_SERVER_NAME', 'AZURE_RESOURCE_GROUP']) {
      expect(text, name).toContain(name);
      expect(main.outputs.has(name), `${name} is an output of main.bicep`).toBe(true);
    }
    for (const v of ['app_role', 'app_oid', 'app_conn_limit', 'platform_db']) expect(text, v).toContain(`${v}=`);
  });

  it('postdeploy runs it too (idempotent) until azure.yaml declares the postprovision hook', () => {
    expect(readRepoFile('infra/hooks/postdeploy.sh')).toContain('postprovision.sh');
    expect(readRepoFile('infra/hooks/postdeploy.ps1')).toContain('postprovision.ps1');
  });
});
