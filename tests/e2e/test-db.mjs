// Which storage backend the origin e2e suites run on (docs/origin.md, "PostgreSQL").
//
// WHALE_TEST_DB=postgres: every database a suite names by a file path becomes a fresh PostgreSQL
// database instead, on the server at WHALE_TEST_PG_URL (an admin URL, postgres://whale@host:port/postgres)
// or, without it, on a throwaway server this module starts once per test process (as the
// `postgres` user, in a temporary directory, on a free loopback port) and stops at exit.
// Anything else (the default): the SQLite file at that path, as before.
// WHALE_TEST_PG_BOUNCER=1 with a throwaway server: the suites reach it through PgBouncer 1.18 in
// transaction pooling mode (default_pool_size 4) started in front of it.
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, basename } from 'node:path';
import { createHash } from 'node:crypto';

export const BACKEND = process.env.WHALE_TEST_DB === 'postgres' ? 'postgres' : 'sqlite';
const PG_BIN = process.env.WHALE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
const PGBOUNCER = process.env.WHALE_PGBOUNCER ?? '/usr/sbin/pgbouncer';

const keyOf = new Map();  // database URL -> the key file its origins sign with
let server = null;  // { admin: URL of the postgres database, stop() }

function run(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: 60000, ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.error?.message ?? r.stderr.trim()}`);
  return r.stdout;
}

function asPostgres(args) {
  return run('runuser', ['-u', 'postgres', '--', ...args]);
}

// A PostgreSQL 15 server of our own: initdb with trust auth on loopback, superuser `whale`.
export function startPgServer() {
  const dir = mkdtempSync(join(tmpdir(), 'whale-pg-'));
  chmodSync(dir, 0o700);
  const uid = Number(run('id', ['-u', 'postgres']).trim());
  const gid = Number(run('id', ['-g', 'postgres']).trim());
  chownSync(dir, uid, gid);
  const data = join(dir, 'data');
  asPostgres([join(PG_BIN, 'initdb'), '-D', data, '-U', 'whale', '-A', 'trust', '--no-sync', '-E', 'UTF8']);
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const r = spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', data, '-l', join(dir, 'log'),
      '-w', '-o', `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300`, 'start'],
    { encoding: 'utf8', timeout: 60000 });
    if (r.status === 0) {
      const stop = () => {
        spawnSync('sh', ['-c', `kill $(cat ${join(dir, 'pgbouncer.pid')} 2>/dev/null) 2>/dev/null`]);
        spawnSync('runuser', ['-u', 'postgres', '--', join(PG_BIN, 'pg_ctl'), '-D', data, '-m', 'immediate', 'stop'],
          { timeout: 30000 });
        rmSync(dir, { recursive: true, force: true });
      };
      return { admin: `postgres://whale@127.0.0.1:${port}/postgres`, dir, stop };
    }
    if (attempt >= 5) throw new Error(`pg_ctl start: ${r.stderr}`);
  }
}

// PgBouncer (daemonized: it needs a pidfile) in front of `admin`'s server, transaction pooling,
// 4 server connections per database; stopped with the server.
function startBouncer(admin, dir) {
  const server = new URL(admin);
  for (let attempt = 0; ; attempt++) {
    const port = 20000 + Math.floor(Math.random() * 30000);
    const ini = join(dir, 'pgbouncer.ini');
    writeFileSync(join(dir, 'userlist.txt'), '"whale" ""\n');
    writeFileSync(ini, ['[databases]', `* = host=127.0.0.1 port=${server.port}`, '[pgbouncer]',
      'listen_addr = 127.0.0.1', `listen_port = ${port}`, `unix_socket_dir = ${dir}`, 'auth_type = trust',
      `auth_file = ${join(dir, 'userlist.txt')}`, 'pool_mode = transaction', 'default_pool_size = 4',
      'max_client_conn = 500', `logfile = ${join(dir, 'pgbouncer.log')}`, `pidfile = ${join(dir, 'pgbouncer.pid')}`,
      'ignore_startup_parameters = extra_float_digits,options', ''].join('\n'));
    chownSync(ini, Number(run('id', ['-u', 'postgres']).trim()), Number(run('id', ['-g', 'postgres']).trim()));
    const r = spawnSync('runuser', ['-u', 'postgres', '--', PGBOUNCER, '-d', ini], { encoding: 'utf8', timeout: 30000 });
    if (r.status === 0) {
      const url = `postgres://whale@127.0.0.1:${port}/postgres`;
      for (let i = 0; i < 300; i++) {
        if (spawnSync(join(PG_BIN, 'psql'), ['-X', '-q', '-d', url, '-c', 'SELECT 1']).status === 0) return url;
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
      }
      // Started but not answering in 30 s: stop this daemon before the next attempt, whose
      // daemon would otherwise refuse to start over its pidfile ("another instance running?").
      const pidfile = join(dir, 'pgbouncer.pid');
      try {
        process.kill(Number(readFileSync(pidfile, 'utf8').trim()), 'SIGTERM');
      } catch {
        // already gone
      }
      rmSync(pidfile, { force: true });
    }
    if (attempt >= 5) {
      const log = (() => { try { return readFileSync(join(dir, 'pgbouncer.log'), 'utf8').slice(-2000); } catch { return ''; } })();
      throw new Error(`pgbouncer: ${r.stderr}\n${log}`);
    }
  }
}

function ensureServer() {
  if (server) return server;
  if (process.env.WHALE_TEST_PG_URL) {
    server = { admin: process.env.WHALE_TEST_PG_URL, stop() {} };
  } else {
    server = startPgServer();
    if (process.env.WHALE_TEST_PG_BOUNCER === '1') server.admin = startBouncer(server.admin, server.dir);
    process.on('exit', () => server.stop());
  }
  return server;
}

// Runs SQL on a database of the test server (psql, no password: trust).
export function psql(url, sql) {
  return run(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql]).trim();
}

// The database a suite names by `path`: that path on SQLite, a fresh PostgreSQL database (created
// now, named after the path) on PostgreSQL. Its origins sign with the key beside the path.
export function testDb(path) {
  return BACKEND === 'postgres' ? pgDb(path) : path;
}

// A fresh PostgreSQL database named after `path`, whatever the backend (tests/e2e/postgres.test.mjs);
// its origins sign with the key beside the path (keyArgs).
export function pgDb(path) {
  const { admin } = ensureServer();
  const name = `whale_${basename(path).replace(/\W/g, '_')}_${createHash('sha256').update(path).digest('hex').slice(0, 10)}`;
  psql(admin, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
  psql(admin, `CREATE DATABASE ${name}`);
  const url = admin.replace(/\/[^/]*$/, `/${name}`);
  keyOf.set(url, join(dirname(path), `${basename(path).replace(/\.[^.]*$/, '')}.key.pem`));
  return url;
}

// The arguments `whale-origin serve` needs besides --db for `db`: PostgreSQL takes --key.
export function keyArgs(db) {
  return keyOf.has(db) ? ['--key', keyOf.get(db)] : [];
}
