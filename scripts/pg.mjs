#!/usr/bin/env node
// A throwaway PostgreSQL for tests and benches: a primary, a streaming replica and PgBouncer (in
// transaction pooling mode), all on free loopback ports in one temporary directory, run as the
// `postgres` user (PostgreSQL refuses root) from Debian's postgresql-15 and pgbouncer packages
// (scripts/setup.sh installs them). Nothing listens beyond 127.0.0.1; authentication is `trust`
// on loopback only, for tests.
//
//   import { startPgCluster } from './pg.mjs';
//   const pg = await startPgCluster({ replica: true, bouncer: true });
//   pg.primary.url   postgres://whale@127.0.0.1:<port>/whale
//   pg.replica.url   the same database, read-only, streaming from the primary
//   pg.bouncer.url   the primary through PgBouncer (pool_mode=transaction)
//   pg.psql(url, sql) -> stdout (tuples only, unaligned)
//   pg.createDatabase(name) -> the URLs of a new empty database: { primary, replica, bouncer }
//   pg.stopReplica(), await pg.startReplica()   (fault tests: pg_ctl stop/start of the replica)
//   pg.stopPrimary(), await pg.startPrimary()   (the same for the primary; the replica reconnects)
//   pg.admin(node) -> a superuser URL of `primary` or `replica` (pg_wal_replay_pause() and such)
//   await pg.stop()
//
// As a program: `node scripts/pg.mjs` starts one, prints the URLs and stops it on Ctrl-C.

import { spawn, spawnSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, sleep } from './stack.mjs';

export const PG_BIN = process.env.WHALE_PG_BIN ?? '/usr/lib/postgresql/15/bin';
export const PGBOUNCER = process.env.WHALE_PGBOUNCER ?? '/usr/sbin/pgbouncer';
const USER = 'whale';
const DATABASE = 'whale';
const STARTUP_MS = 30000;

function postgresIds() {
  const r = spawnSync('id', ['-u', 'postgres'], { encoding: 'utf8' });
  const g = spawnSync('id', ['-g', 'postgres'], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error('no postgres user: install postgresql (scripts/setup.sh)');
  return { uid: Number(r.stdout), gid: Number(g.stdout) };
}

// Runs a PostgreSQL binary as the postgres user (directly when this process is postgres already).
function asPostgres(bin, args, { check = true, timeout = 60000 } = {}) {
  const root = process.getuid?.() === 0;
  const r = root
    ? spawnSync('runuser', ['-u', 'postgres', '--', bin, ...args], { encoding: 'utf8', timeout })
    : spawnSync(bin, args, { encoding: 'utf8', timeout });
  if (check && r.status !== 0) throw new Error(`${bin} ${args.join(' ')}: ${r.error?.message ?? ''}${r.stderr}${r.stdout}`);
  return r;
}

function chownTree(path, { uid, gid }) {
  chownSync(path, uid, gid);
  if (statSync(path).isDirectory()) for (const entry of readdirSync(path)) chownTree(join(path, entry), { uid, gid });
}

const urlOf = (port, database = DATABASE) => `postgres://${USER}@127.0.0.1:${port}/${database}`;

// psql against url: tuples only, unaligned, stops at the first error. Resolves to stdout.
export function psql(url, sql) {
  const r = spawnSync(join(PG_BIN, 'psql'), ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', url, '-c', sql], {
    encoding: 'utf8', timeout: 30000,
  });
  if (r.status !== 0) throw new Error(`psql ${url}: ${r.error?.message ?? ''}${r.stderr}`);
  return r.stdout.trim();
}

async function waitReady(port) {
  const deadline = Date.now() + STARTUP_MS;
  for (;;) {
    const r = spawnSync(join(PG_BIN, 'pg_isready'), ['-h', '127.0.0.1', '-p', String(port)], { encoding: 'utf8' });
    if (r.status === 0) return;
    if (Date.now() > deadline) throw new Error(`PostgreSQL on ${port} not ready: ${r.stdout}${r.stderr}`);
    await sleep(100);
  }
}

async function startServer(dataDir, port, log) {
  asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, '-l', log, '-w', '-t', '30', '-o', `-p ${port}`, 'start']);
  await waitReady(port);
}

function stopServer(dataDir) {
  if (!existsSync(join(dataDir, 'postmaster.pid'))) return;
  asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', dataDir, '-m', 'immediate', '-w', '-t', '30', 'stop'], { check: false });
}

// options: replica (a streaming standby of the primary), bouncer (PgBouncer in front of the
// primary), poolSize (PgBouncer's default_pool_size: server connections per database and user),
// maxClients (max_client_conn), and for fault tests PgBouncer's own waits, left at its defaults
// unless given: loginRetryS (server_login_retry: how long it refuses clients after it failed to
// reach the server, default 15) and queryWaitS (query_wait_timeout: how long a client waits for a
// server connection, default 120; with the server down a query waits that long).
export async function startPgCluster({ replica = false, bouncer = false, poolSize = 20, maxClients = 2000,
  loginRetryS, queryWaitS } = {}) {
  const ids = postgresIds();
  const dir = mkdtempSync(join(tmpdir(), 'whale-pg-'));
  chownSync(dir, ids.uid, ids.gid);
  const cluster = { dir, primary: null, replica: null, bouncer: null, children: [] };
  cluster.stop = async () => {
    for (const child of cluster.children) {
      if (child.exitCode === null && child.signalCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      }
    }
    for (const node of ['replica', 'primary']) if (cluster[node]) stopServer(cluster[node].dataDir);
    rmSync(dir, { recursive: true, force: true });
  };
  cluster.psql = psql;
  cluster.stopReplica = () => stopServer(cluster.replica.dataDir);
  cluster.startReplica = () => startServer(cluster.replica.dataDir, cluster.replica.port, join(dir, 'replica.log'));
  cluster.stopPrimary = () => stopServer(cluster.primary.dataDir);
  cluster.startPrimary = () => startServer(cluster.primary.dataDir, cluster.primary.port, join(dir, 'primary.log'));
  cluster.admin = (node) => `postgres://postgres@127.0.0.1:${cluster[node].port}/postgres`;
  try {
    // The primary: trust on loopback (tests only), WAL for a streaming replica.
    const primaryDir = join(dir, 'primary');
    asPostgres(join(PG_BIN, 'initdb'), ['-D', primaryDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale', 'C.UTF-8']);
    appendFileSync(join(primaryDir, 'postgresql.conf'), [
      "listen_addresses = '127.0.0.1'",
      `unix_socket_directories = '${dir}'`,
      'wal_level = replica', 'max_wal_senders = 4', 'hot_standby = on', 'max_connections = 200',
      '',
    ].join('\n'));
    writeFileSync(join(primaryDir, 'pg_hba.conf'), [
      'local all all trust',
      'host all all 127.0.0.1/32 trust',
      'host replication all 127.0.0.1/32 trust',
      '',
    ].join('\n'));
    chownTree(primaryDir, ids);
    const primaryPort = await freePort();
    await startServer(primaryDir, primaryPort, join(dir, 'primary.log'));
    cluster.primary = { dataDir: primaryDir, port: primaryPort, url: urlOf(primaryPort) };
    const admin = `postgres://postgres@127.0.0.1:${primaryPort}/postgres`;
    psql(admin, `CREATE ROLE ${USER} LOGIN CREATEDB`);
    psql(admin, `CREATE DATABASE ${DATABASE} OWNER ${USER}`); // (not in a transaction block)

    if (replica) {
      const replicaDir = join(dir, 'replica');
      asPostgres(join(PG_BIN, 'pg_basebackup'), ['-h', '127.0.0.1', '-p', String(primaryPort), '-U', 'postgres', '-D', replicaDir, '-R', '-X', 'stream', '-c', 'fast', '--no-sync']);
      const replicaPort = await freePort();
      await startServer(replicaDir, replicaPort, join(dir, 'replica.log'));
      cluster.replica = { dataDir: replicaDir, port: replicaPort, url: urlOf(replicaPort) };
    }

    if (bouncer) {
      const port = await freePort();
      const ini = join(dir, 'pgbouncer.ini');
      writeFileSync(join(dir, 'userlist.txt'), `"${USER}" ""\n"postgres" ""\n`);
      writeFileSync(ini, [
        '[databases]',
        `* = host=127.0.0.1 port=${primaryPort}`,
        '[pgbouncer]',
        'listen_addr = 127.0.0.1', `listen_port = ${port}`, `unix_socket_dir = ${dir}`,
        'auth_type = trust', `auth_file = ${join(dir, 'userlist.txt')}`,
        'pool_mode = transaction', `default_pool_size = ${poolSize}`, `max_client_conn = ${maxClients}`,
        'max_db_connections = 0', 'ignore_startup_parameters = extra_float_digits,options',
        ...(loginRetryS === undefined ? [] : [`server_login_retry = ${loginRetryS}`]),
        ...(queryWaitS === undefined ? [] : [`query_wait_timeout = ${queryWaitS}`]),
        `logfile = ${join(dir, 'pgbouncer.log')}`, `pidfile = ${join(dir, 'pgbouncer.pid')}`,
        '',
      ].join('\n'));
      chownTree(dir, ids);
      const args = [ini];
      const child = process.getuid?.() === 0
        ? spawn('runuser', ['-u', 'postgres', '--', PGBOUNCER, ...args], { stdio: 'ignore' })
        : spawn(PGBOUNCER, args, { stdio: 'ignore' });
      cluster.children.push(child);
      const deadline = Date.now() + STARTUP_MS;
      for (;;) {
        try {
          psql(urlOf(port), 'SELECT 1');
          break;
        } catch (e) {
          if (Date.now() > deadline || child.exitCode !== null) throw new Error(`PgBouncer did not start: ${e.message}`);
          await sleep(100);
        }
      }
      cluster.bouncer = { port, url: urlOf(port), admin: `postgres://postgres@127.0.0.1:${port}/pgbouncer` };
    }
  } catch (e) {
    await cluster.stop();
    throw e;
  }
  // A new empty database owned by the test role: one per test or origin.
  let databases = 0;
  cluster.createDatabase = (name = `whale_${process.pid}_${++databases}`) => {
    psql(`postgres://postgres@127.0.0.1:${cluster.primary.port}/postgres`, `CREATE DATABASE ${name} OWNER ${USER};`);
    return { primary: urlOf(cluster.primary.port, name), replica: cluster.replica && urlOf(cluster.replica.port, name), bouncer: cluster.bouncer && urlOf(cluster.bouncer.port, name) };
  };
  return cluster;
}

async function main() {
  const pg = await startPgCluster({ replica: true, bouncer: true });
  console.log(`primary ${pg.primary.url}\nreplica ${pg.replica.url}\nbouncer ${pg.bouncer.url}\n(Ctrl-C stops them)`);
  const stop = async () => {
    await pg.stop();
    process.exit(0);
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href) main();
