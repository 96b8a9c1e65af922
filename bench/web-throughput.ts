// Web throughput, side by side: a node's web site (WebDAV GET/PUT) vs nginx serving the same file with the
// same certificate and key (`dav_methods PUT` for uploads), the same curl, over HTTPS and plain HTTP.
// 1 GiB by default; medians in MB/s and the ratio. Target: GET over HTTPS ≥ 0.8× nginx.
//   node dist/bench/web-throughput.js [--size 1G] [--runs 3] [--node 127.0.82.2] [--nginx 127.0.82.9]
import {spawn, spawnSync, type ChildProcess} from 'node:child_process'
import {randomFillSync} from 'node:crypto'
import {closeSync, openSync, promises as fs, readFileSync, writeSync} from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import type {ClusterConfig} from '../src/config/schema.js'
import {HTTP_PORT, HTTPS_PORT, startWebCluster, WEB_PASSWORD, WEB_USER} from '../test/helpers/web-fixture.js'

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`)
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : fallback
}

function parseSize(s: string): number {
  const m = /^(\d+)([KMG]?)$/i.exec(s)
  if (!m) throw new Error(`--size ${s}: expected e.g. 1G, 256M`)
  return Number(m[1]) * {'': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3}[m[2].toUpperCase() as '' | 'K' | 'M' | 'G']
}

const size = parseSize(arg('size', '1G'))
const runs = Number(arg('runs', '3'))
const NODE = arg('node', '127.0.82.2')
const NGINX = arg('nginx', '127.0.82.9')
const NGINX_HTTPS = 18443
const NGINX_HTTP = 18080

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]
}

function curl(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint()
    const child = spawn('curl', ['-sS', '--fail', '-k', ...args], {stdio: ['ignore', 'ignore', 'inherit']})
    child.on('close', (code) => {
      if (code !== 0) return reject(new Error(`curl ${args.join(' ')} exited ${code}`))
      resolve(Number(process.hrtime.bigint() - t0) / 1e9)
    })
  })
}

async function startNginx(work: string, cert: string, key: string): Promise<ChildProcess> {
  const root = path.join(work, 'nginx-root')
  await fs.mkdir(root, {recursive: true})
  await fs.mkdir(path.join(work, 'nginx-tmp'), {recursive: true})
  await fs.writeFile(path.join(work, 'cert.pem'), cert)
  await fs.writeFile(path.join(work, 'key.pem'), key, {mode: 0o600})
  const conf = path.join(work, 'nginx.conf')
  const t = path.join(work, 'nginx-tmp')
  // as root, nginx's workers would switch to nobody and could not read or write the bench directory
  const user = process.getuid?.() === 0 ? 'user root;\n' : ''
  await fs.writeFile(conf, `${user}daemon off;
worker_processes 1;
pid ${work}/nginx.pid;
error_log ${work}/nginx-error.log;
events { worker_connections 64; }
http {
  access_log off;
  sendfile on;
  client_max_body_size 0;
  client_body_temp_path ${t}/body; proxy_temp_path ${t}/proxy; fastcgi_temp_path ${t}/fcgi; uwsgi_temp_path ${t}/uwsgi; scgi_temp_path ${t}/scgi;
  server {
    listen ${NGINX}:${NGINX_HTTPS} ssl;
    ssl_certificate ${work}/cert.pem;
    ssl_certificate_key ${work}/key.pem;
    root ${root};
    dav_methods PUT;
  }
  server {
    listen ${NGINX}:${NGINX_HTTP};
    root ${root};
    dav_methods PUT;
  }
}
`)
  const child = spawn('nginx', ['-c', conf, '-e', `${work}/nginx-error.log`], {stdio: ['ignore', 'inherit', 'inherit']})
  const until = Date.now() + 5000
  while (Date.now() < until) {
    if (spawnSync('curl', ['-sS', '--max-time', '2', '-o', '/dev/null', `http://${NGINX}:${NGINX_HTTP}/`]).status === 0) return child
    await new Promise((r) => setTimeout(r, 100))
  }
  child.kill()
  throw new Error('nginx did not start (apt-get install nginx)')
}

async function main(): Promise<void> {
  if (spawnSync('sh', ['-c', 'command -v nginx && command -v curl']).status !== 0) {
    console.error('needs curl and nginx (apt-get install curl nginx)')
    process.exit(2)
  }
  const work = await fs.mkdtemp(path.join(os.tmpdir(), 'web-bench-'))
  const source = path.join(work, 'source.bin')
  const fd = openSync(source, 'w')
  const block = Buffer.alloc(8 * 1024 * 1024)
  for (let left = size; left > 0; left -= block.length) writeSync(fd, randomFillSync(block), 0, Math.min(left, block.length))
  closeSync(fd)

  const cluster = await startWebCluster(work, [NODE])
  let nginx: ChildProcess | undefined
  const auth = ['-u', `${WEB_USER}:${WEB_PASSWORD}`]
  const targets = {
    'ours https': {base: `https://${NODE}:${HTTPS_PORT}/dav`, auth},
    'nginx https': {base: `https://${NGINX}:${NGINX_HTTPS}`, auth: []},
    'ours http': {base: `http://${NODE}:${HTTP_PORT}/dav`, auth},
    'nginx http': {base: `http://${NGINX}:${NGINX_HTTP}`, auth: []},
  }
  const times: Record<string, number[]> = {}
  try {
    const config = JSON.parse(readFileSync(path.join(cluster.nodes[0].dir, 'config', 'current.json'), 'utf8')) as ClusterConfig
    nginx = await startNginx(work, config.serviceIdentity.tlsCert, config.serviceIdentity.tlsKey)
    const home = path.join(cluster.storage, WEB_USER)
    await fs.mkdir(home, {recursive: true})
    await fs.copyFile(source, path.join(home, 'file.bin'))
    await fs.copyFile(source, path.join(work, 'nginx-root', 'file.bin'))
    for (let r = 0; r < runs; r++) {
      // interleaved so drift of the shared machine hits both alike
      for (const [who, t] of Object.entries(targets)) (times[`${who} GET`] ??= []).push(await curl([...t.auth, '-o', '/dev/null', `${t.base}/file.bin`]))
      for (const [who, t] of Object.entries(targets)) (times[`${who} PUT`] ??= []).push(await curl([...t.auth, '-T', source, `${t.base}/up${r}.bin`]))
    }
  } finally {
    nginx?.kill()
    await cluster.stop()
    await fs.rm(work, {recursive: true, force: true})
  }
  const mbs = (k: string) => size / 1e6 / median(times[k])
  console.log(`Web throughput, ${(size / 1024 ** 2).toFixed(0)} MiB, curl, ${runs} runs (median), loopback`)
  console.log('transfer      ours MB/s   nginx MB/s   ratio (ours/nginx)')
  for (const scheme of ['https', 'http']) {
    for (const op of ['GET', 'PUT']) {
      const o = mbs(`ours ${scheme} ${op}`)
      const n = mbs(`nginx ${scheme} ${op}`)
      console.log(`${`${op} ${scheme}`.padEnd(12)} ${o.toFixed(0).padStart(10)} ${n.toFixed(0).padStart(12)}   ${(o / n).toFixed(2)}×`)
    }
  }
}

main().catch((error: unknown) => {
  console.error((error as Error).message)
  process.exit(1)
})
