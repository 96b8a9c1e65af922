// The web site of one node against clients nobody here wrote: litmus (basic, copymove, props, locks, http),
// curl (PUT, GET with Range, PROPFIND, HTTPS), cadaver, rclone's webdav backend (300-file tree, checksums),
// and the jail and permissions through WebDAV (encoded traversal, "..", %2e%2e, %00).
// Addresses: 127.0.80.0/24 (node on .2).
import assert from 'node:assert/strict'
import {mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {hashPassword} from '../../src/config/password.js'
import {killAll, sha256File} from '../helpers/ftp-fixture.js'
import {runCli} from '../helpers/cli.js'
import {tempDir} from '../helpers/node-process.js'
import {needs} from '../helpers/tools.js'
import {changeConfig, runQuiet, HTTP_PORT, HTTPS_PORT, startWebCluster, WEB_PASSWORD, WEB_USER, type WebCluster} from '../helpers/web-fixture.js'

const HOST = '127.0.80.2'
const BASE = `http://${HOST}:${HTTP_PORT}/dav`
const SECURE = `https://${HOST}:${HTTPS_PORT}/dav`
const READER = 'reader'
const READER_PASSWORD = 'reader-only-password'

function curl(args: string[]) {
  return runQuiet('curl', ['-sS', '--max-time', '30', ...args], 40_000)
}

describe('WebDAV on one node (integration)', {skip: needs('curl')}, () => {
  const root = tempDir()
  let cluster: WebCluster
  let home: string

  before(async () => {
    cluster = await startWebCluster(root, [HOST])
    const hash = await hashPassword(READER_PASSWORD)
    await changeConfig(HOST, [HOST], (c) => {
      c.users.push({name: READER, passwordHash: hash, publicKeys: [], home: `/${WEB_USER}`, permissions: ['list', 'download'], disabled: false})
    }, 'read-only user')
    home = path.join(cluster.storage, WEB_USER)
    mkdirSync(home, {recursive: true})
  })

  after(async () => {
    killAll()
    await cluster?.stop()
  })

  it('curl: PUT, GET with Range, ETag/If-None-Match, PROPFIND over HTTPS and HTTP', async () => {
    const file = path.join(root, 'curl.txt')
    writeFileSync(file, 'abcdefghijklmnopqrstuvwxyz')
    const put = await curl(['-k', '-u', `${WEB_USER}:${WEB_PASSWORD}`, '-T', file, '-w', '%{http_code}', `${SECURE}/curl.txt`])
    assert.equal(put.stdout, '201', put.stderr)
    assert.equal(readFileSync(path.join(home, 'curl.txt'), 'utf8'), 'abcdefghijklmnopqrstuvwxyz')
    const range = await curl(['-k', '-u', `${WEB_USER}:${WEB_PASSWORD}`, '-r', '2-5', '-D', '-', `${SECURE}/curl.txt`])
    assert.match(range.stdout, /^HTTP\/1\.1 206/)
    assert.match(range.stdout, /content-range: bytes 2-5\/26/i)
    assert.ok(range.stdout.endsWith('\r\n\r\ncdef'), range.stdout)
    const etag = /etag: ("[^"]+")/i.exec(range.stdout)![1]
    const cond = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-H', `If-None-Match: ${etag}`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.equal(cond.stdout, '304')
    const suffix = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-r', '-3', `${BASE}/curl.txt`])
    assert.equal(suffix.stdout, 'xyz')
    const bad = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-r', '100-200', '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.equal(bad.stdout, '416')
    const pf = await curl(['-k', '-u', `${WEB_USER}:${WEB_PASSWORD}`, '-X', 'PROPFIND', '-H', 'Depth: 1', `${SECURE}/`])
    assert.match(pf.stdout, /<D:href>\/dav\/curl\.txt<\/D:href>.*<D:getcontentlength>26<\/D:getcontentlength>/s)
    const inf = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-X', 'PROPFIND', '-H', 'Depth: infinity', '-w', '\n%{http_code}', `${BASE}/`])
    assert.match(inf.stdout, /propfind-finite-depth[\s\S]*403$/)
    const wrong = await curl(['-u', `${WEB_USER}:wrong`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.equal(wrong.stdout, '401')
  })

  it('the jail holds for encoded traversal, "..", %2e%2e, %00 and backslashes; the state directory is not reachable', async () => {
    writeFileSync(path.join(cluster.storage, 'outside.txt'), 'secret outside the home')
    const paths = ['/../outside.txt', '/%2e%2e/outside.txt', '/%2E%2E/%2e%2e/outside.txt', '/..%2foutside.txt', '/%2e%2e%2foutside.txt', '/a%00b', '/..%5coutside.txt', '/%252e%252e/outside.txt', '/.ftpcluster-webdav/locks.json']
    for (const p of paths) {
      for (const method of ['GET', 'PUT', 'DELETE', 'PROPFIND', 'MKCOL']) {
        const r = await curl(['--path-as-is', '-u', `${WEB_USER}:${WEB_PASSWORD}`, '-X', method, '-o', '/dev/null', '-w', '%{http_code}', ...(method === 'PUT' ? ['--data-binary', 'x'] : []), `${BASE}${p}`])
        assert.ok(['400', '403', '404', '409'].includes(r.stdout), `${method} ${p} → ${r.stdout}`)
      }
      const body = await curl(['--path-as-is', '-u', `${WEB_USER}:${WEB_PASSWORD}`, `${BASE}${p}`])
      assert.doesNotMatch(body.stdout, /secret outside/, p)
    }
    assert.equal(readFileSync(path.join(cluster.storage, 'outside.txt'), 'utf8'), 'secret outside the home')
    const dest = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-X', 'COPY', '-H', `Destination: ${BASE}/%2e%2e/stolen.txt`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    // WHATWG URL parsing folds %2e%2e in the Destination, which then lies outside /dav: 502, nothing copied
    assert.ok(['400', '502'].includes(dest.stdout), dest.stdout)
  })

  it('permissions: a list+download user can read but not PUT, DELETE, MKCOL, MOVE or PROPPATCH', async () => {
    const get = await curl(['-u', `${READER}:${READER_PASSWORD}`, '-w', '%{http_code}', '-o', '/dev/null', `${BASE}/curl.txt`])
    assert.equal(get.stdout, '200')
    const tries: string[][] = [
      ['-X', 'PUT', '--data-binary', 'x', `${BASE}/new.txt`],
      ['-X', 'DELETE', `${BASE}/curl.txt`],
      ['-X', 'MKCOL', `${BASE}/dir`],
      ['-X', 'MOVE', '-H', `Destination: ${BASE}/moved.txt`, `${BASE}/curl.txt`],
      ['-X', 'PROPPATCH', '--data-binary', '<?xml version="1.0"?><propertyupdate xmlns="DAV:"><set><prop><x xmlns="urn:t">1</x></prop></set></propertyupdate>', `${BASE}/curl.txt`],
    ]
    for (const t of tries) {
      const r = await curl(['-u', `${READER}:${READER_PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}', ...t])
      assert.equal(r.stdout, '403', t.join(' '))
    }
    assert.equal(readFileSync(path.join(home, 'curl.txt'), 'utf8'), 'abcdefghijklmnopqrstuvwxyz')
  })

  it('XML bodies with a DOCTYPE (entity expansion) are refused with 400', async () => {
    const xxe = '<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]><propfind xmlns="DAV:"><prop><x>&x;</x></prop></propfind>'
    const r = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-X', 'PROPFIND', '-H', 'Depth: 0', '--data-binary', xxe, '-w', '\n%{http_code}', `${BASE}/`])
    assert.match(r.stdout, /400$/)
    assert.doesNotMatch(r.stdout, /root:/)
  })

  it('litmus basic, copymove, props, locks and http: every test passes', {skip: needs('litmus')}, async () => {
    const r = await runQuiet('litmus', [`${BASE}/`, WEB_USER, WEB_PASSWORD], 240_000, undefined, root) // litmus writes debug.log in its cwd
    const out = r.stdout + r.stderr
    const summaries = [...out.matchAll(/summary for `(\w+)': of (\d+) tests run: (\d+) passed, (\d+) failed/g)]
    assert.deepEqual(summaries.map((m) => m[1]), ['basic', 'copymove', 'props', 'locks', 'http'], out)
    for (const m of summaries) assert.equal(m[4], '0', `litmus ${m[1]}: ${m[4]} failed\n${out}`)
    assert.equal(r.code, 0, out)
  })

  it('cadaver: put, ls, get, mkcol, move, delete', {skip: needs('cadaver')}, async () => {
    const dir = path.join(root, 'cadaver')
    mkdirSync(dir, {recursive: true})
    writeFileSync(path.join(dir, '.netrc'), `machine ${HOST}\nlogin ${WEB_USER}\npassword ${WEB_PASSWORD}\n`, {mode: 0o600})
    writeFileSync(path.join(dir, 'up.txt'), 'from cadaver\n')
    const script = ['mkcol cdir', 'cd cdir', `lcd ${dir}`, 'put up.txt', 'ls', `get up.txt ${path.join(dir, 'down.txt')}`, 'move up.txt moved.txt', 'ls', 'quit', ''].join('\n')
    const r = await new Promise<{code: number | null; out: string}>((resolve) => {
      import('node:child_process').then(({spawn}) => {
        const child = spawn('cadaver', [`${BASE}/`], {env: {...process.env, HOME: dir}, cwd: dir, stdio: ['pipe', 'pipe', 'pipe']})
        let out = ''
        child.stdout.on('data', (d) => (out += d))
        child.stderr.on('data', (d) => (out += d))
        const timer = setTimeout(() => child.kill('SIGKILL'), 30_000)
        child.on('close', (code) => {
          clearTimeout(timer)
          resolve({code, out})
        })
        child.stdin.end(script)
      })
    })
    assert.equal(readFileSync(path.join(dir, 'down.txt'), 'utf8'), 'from cadaver\n', r.out)
    assert.equal(readFileSync(path.join(home, 'cdir', 'moved.txt'), 'utf8'), 'from cadaver\n', r.out)
    assert.match(r.out, /moved\.txt/)
  })

  it('rclone webdav: copy, sync and check of a 300-file tree with identical checksums', {skip: needs('rclone')}, async () => {
    const src = path.join(root, 'tree')
    for (let i = 0; i < 300; i++) {
      const d = path.join(src, `d${i % 7}`, `e${i % 3}`)
      mkdirSync(d, {recursive: true})
      writeFileSync(path.join(d, `f${i}.bin`), Buffer.alloc(100 + i * 37, i % 251))
    }
    const obscured = (await runQuiet('rclone', ['obscure', WEB_PASSWORD])).stdout.trim()
    const env = {RCLONE_CONFIG_W_TYPE: 'webdav', RCLONE_CONFIG_W_URL: `${BASE}/`, RCLONE_CONFIG_W_VENDOR: 'other', RCLONE_CONFIG_W_USER: WEB_USER, RCLONE_CONFIG_W_PASS: obscured}
    const rclone = (args: string[]) => new Promise<{code: number | null; out: string}>((resolve) => {
      import('node:child_process').then(({spawn}) => {
        const child = spawn('rclone', [...args, '--config', '/dev/null', '--transfers', '4', '--checkers', '4', '--low-level-retries', '2', '--retries', '1'], {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']})
        let out = ''
        child.stdout.on('data', (d) => (out += d))
        child.stderr.on('data', (d) => (out += d))
        const timer = setTimeout(() => child.kill('SIGKILL'), 180_000)
        child.on('close', (code) => {
          clearTimeout(timer)
          resolve({code, out})
        })
      })
    })
    const copy = await rclone(['copy', src, 'w:rtree'])
    assert.equal(copy.code, 0, copy.out)
    // sync: drop one file locally and change another; the remote follows
    const { rmSync } = await import('node:fs')
    rmSync(path.join(src, 'd0', 'e0', 'f0.bin'))
    writeFileSync(path.join(src, 'd1', 'e1', 'f1.bin'), 'changed content')
    const sync = await rclone(['sync', src, 'w:rtree'])
    assert.equal(sync.code, 0, sync.out)
    const check = await rclone(['check', src, 'w:rtree', '--download'])
    assert.equal(check.code, 0, check.out)
    assert.match(check.out, /0 differences found/)
    assert.match(check.out, /299 matching files/)
    for (const rel of ['d1/e1/f1.bin', 'd5/e2/f299.bin']) {
      assert.equal(await sha256File(path.join(home, 'rtree', rel)), await sha256File(path.join(src, rel)), rel)
    }
  })

  it('failed web logins feed the node\'s defender: the address is banned, another address still gets in', async () => {
    await changeConfig(HOST, [HOST], (c) => {
      c.defender.threshold = 3
    }, 'low defender threshold')
    const attacker = '127.0.80.9'
    for (let i = 0; i < 3; i++) {
      const r = await curl(['--interface', attacker, '-u', `${WEB_USER}:wrong-${i}`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/`])
      assert.equal(r.stdout, '401')
    }
    const banned = await curl(['--interface', attacker, '-u', `${WEB_USER}:${WEB_PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.notEqual(banned.stdout, '200', 'the banned address is refused even with the right password')
    const other = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.equal(other.stdout, '200')
    assert.match(cluster.nodes[0].log, /\[web\] web login failed address=127\.0\.80\.9/)
  })

  it('parallel Basic guesses from one address get at most the threshold checked (the rest refused unchecked)', async () => {
    await changeConfig(HOST, [HOST], (c) => {
      c.defender.threshold = 3
    }, 'low defender threshold')
    const codes = await Promise.all(Array.from({length: 12}, (_, i) => new Promise<number>((resolve) => {
      const auth = Buffer.from(`${WEB_USER}:guess-${i}`).toString('base64')
      const req = http.request({host: HOST, port: HTTP_PORT, path: '/dav/', localAddress: '127.0.80.10', agent: false, headers: {authorization: `Basic ${auth}`}, timeout: 20_000}, (res) => {
        res.resume()
        resolve(res.statusCode ?? 0)
      })
      req.on('timeout', () => req.destroy())
      req.on('error', () => resolve(0))
      req.end()
    })))
    const checked = codes.filter((c) => c === 401).length
    assert.ok(checked <= 3, `${checked} of 12 parallel guesses were checked: ${codes.join(',')}`)
    assert.ok(codes.every((c) => c === 401 || c === 403), codes.join(','))
  })

  it('a draining node refuses new web connections and /healthz reports web draining; --undo brings it back', async () => {
    const health = async () => JSON.parse((await curl([`http://${HOST}:14980/healthz`])).stdout) as {status: string; services: Record<string, string>}
    assert.equal((await health()).services.web, 'up')
    const d = await runCli(['node', 'drain', HOST, '--json'], {env: cluster.env})
    assert.equal(d.code, 0, d.stderr)
    const h = await health()
    assert.equal(h.services.web, 'draining')
    const refused = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.notEqual(refused.code, 0, 'a new connection to a draining node is refused')
    const u = await runCli(['node', 'drain', HOST, '--undo', '--json'], {env: cluster.env})
    assert.equal(u.code, 0, u.stderr)
    const back = await curl(['-u', `${WEB_USER}:${WEB_PASSWORD}`, '-o', '/dev/null', '-w', '%{http_code}', `${BASE}/curl.txt`])
    assert.equal(back.stdout, '200')
  })
})
