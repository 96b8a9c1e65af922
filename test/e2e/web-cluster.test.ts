// The web site of a 3-node cluster on one shared storage directory, behind HAProxy in HTTP mode, round-robin
// per request and WITHOUT stickiness: a real Chromium (puppeteer-core, the system's /usr/bin/chromium) logs in
// and uses the browser client; locks taken through one node hold on another; logout on a secondary ends
// the session on every node within 5 s; key rotation keeps sessions alive; a new user logs in everywhere.
// Addresses: 127.0.81.0/24 only — HAProxy on .1, nodes on .2-.4.
import assert from 'node:assert/strict'
import {spawn, type ChildProcess} from 'node:child_process'
import {existsSync, mkdirSync, readFileSync, writeFileSync} from 'node:fs'
import path from 'node:path'
import {after, before, describe, it} from 'node:test'
import {runCli} from '../helpers/cli.js'
import {pollUntil, tempDir} from '../helpers/node-process.js'
import {ROOT} from '../helpers/paths.js'
import {needs} from '../helpers/tools.js'
import {HTTP_PORT, HTTPS_PORT, runQuiet, startWebCluster, WEB_PASSWORD, WEB_USER, type WebCluster} from '../helpers/web-fixture.js'

const LB = '127.0.81.1'
const NODES = ['127.0.81.2', '127.0.81.3', '127.0.81.4']
const [A, B, C] = NODES
const LB_URL = `http://${LB}:${HTTP_PORT}`
const CHROMIUM = '/usr/bin/chromium'
const ARTIFACTS = path.join(ROOT, 'test-artifacts')

function haproxyConfig(dir: string): string {
  return `global
  maxconn 512

defaults
  mode http
  timeout connect 2s
  timeout client 30s
  timeout server 30s
  option forwardfor

frontend web
  bind ${LB}:${HTTP_PORT}
  default_backend webnodes

backend webnodes
  # round-robin per request, no cookie, no stick table: any node must accept any session
  balance roundrobin
  source ${LB}
  option httpchk GET /healthz
  default-server check port 14980 inter 300ms fall 2 rise 2
${NODES.map((ip, i) => `  server n${i + 2} ${ip}:${HTTP_PORT}`).join('\n')}
`.replace(/\$\{dir\}/g, dir)
}

interface Http {
  status: number
  headers: Headers
  text: string
}

async function http(url: string, init: RequestInit = {}): Promise<Http> {
  const res = await fetch(url, {...init, signal: AbortSignal.timeout(10_000)})
  return {status: res.status, headers: res.headers, text: await res.text()}
}

async function login(base: string, user = WEB_USER, password = WEB_PASSWORD): Promise<{cookie: string; csrf: string; keyId: string; token: string}> {
  const r = await http(`${base}/api/login`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({user, password})})
  assert.equal(r.status, 200, r.text)
  const doc = JSON.parse(r.text) as {csrfToken: string; keyId: string; token: string}
  const cookie = (r.headers.get('set-cookie') ?? '').split(';')[0]
  return {cookie, csrf: doc.csrfToken, keyId: doc.keyId, token: doc.token}
}

const nodeUrl = (ip: string) => `http://${ip}:${HTTP_PORT}`

describe('web site of a 3-node cluster behind HAProxy without stickiness (e2e)', {skip: needs('haproxy', 'curl')}, () => {
  const root = tempDir()
  let cluster: WebCluster
  let haproxy: ChildProcess | undefined
  let haproxyLog = ''

  before(async () => {
    cluster = await startWebCluster(root, NODES, (c) => {
      c.sites.web.trustedProxies = [`${LB}/32`]
    })
    const cfg = path.join(root, 'haproxy-web.cfg')
    writeFileSync(cfg, haproxyConfig(root))
    haproxy = spawn('haproxy', ['-f', cfg, '-db'], {stdio: ['ignore', 'pipe', 'pipe']})
    haproxy.stdout!.on('data', (d) => (haproxyLog += d))
    haproxy.stderr!.on('data', (d) => (haproxyLog += d))
    // every node answers through the balancer before the tests start
    await pollUntil(async () => {
      const seen = new Set<string>()
      for (let i = 0; i < 9; i++) seen.add((await http(`${LB_URL}/healthz`)).headers.get('x-served-by') ?? '')
      return seen.size === 3
    }, `HAProxy to reach all three nodes\n${haproxyLog}`, 15_000, 200)
  })

  after(async () => {
    if (haproxy?.pid && haproxy.exitCode === null && haproxy.signalCode === null) {
      const exited = new Promise((r) => haproxy!.once('exit', r))
      process.kill(haproxy.pid, 'SIGTERM')
      await exited
    }
    await cluster?.stop()
  })

  it('browser client in Chromium through HAProxy: login, 20 requests on all three nodes, upload (input and drag and drop), folder, rename, download, delete', {skip: needs('chromium') || (existsSync(CHROMIUM) ? false : 'no /usr/bin/chromium')}, async () => {
    const {default: puppeteer} = await import('puppeteer-core')
    const profile = path.join(root, 'chromium-profile')
    const downloads = path.join(root, 'downloads')
    mkdirSync(downloads, {recursive: true})
    const browser = await puppeteer.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`],
    })
    const pid = browser.process()?.pid
    try {
      const page = await browser.newPage()
      page.setDefaultTimeout(15_000)
      await page.setViewport({width: 1000, height: 700})
      await page.goto(`${LB_URL}/`)
      await page.waitForSelector('#login:not([hidden])')
      await page.type('#user', WEB_USER)
      await page.type('#password', WEB_PASSWORD)
      await page.click('#login-button')
      await page.waitForSelector('#files:not([hidden])')
      assert.equal(await page.$eval('#login', (f) => (f as HTMLElement).offsetParent), null, 'the login form is not shown once logged in')

      const served = await page.evaluate(async () => {
        const out: {status: number; node: string | null}[] = []
        for (let i = 0; i < 20; i++) {
          const r = await fetch('/api/list?path=/', {credentials: 'same-origin'})
          out.push({status: r.status, node: r.headers.get('x-served-by')})
        }
        return out
      })
      assert.deepEqual(served.map((s) => s.status), Array(20).fill(200), JSON.stringify(served))
      assert.equal(new Set(served.map((s) => s.node)).size, 3, `the 20 requests reached ${[...new Set(served.map((s) => s.node))].join(', ')}`)

      const home = path.join(cluster.storage, WEB_USER)
      const picked = path.join(root, 'picked.txt')
      writeFileSync(picked, 'picked with the file input\n'.repeat(5000))
      const input = await page.$('input#upload') as import('puppeteer-core').ElementHandle<HTMLInputElement> | null
      await input!.uploadFile(picked)
      await page.waitForSelector('tr[data-name="picked.txt"]')
      assert.equal(readFileSync(path.join(home, 'picked.txt'), 'utf8'), readFileSync(picked, 'utf8'))

      await page.evaluate(() => {
        const dt = new DataTransfer()
        dt.items.add(new File(['dropped into the page\n'], 'dropped.txt', {type: 'text/plain'}))
        document.getElementById('drop')!.dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}))
      })
      await page.waitForSelector('tr[data-name="dropped.txt"]')
      assert.equal(await page.$$eval('#progress li[data-done="ok"]', (l) => l.length), 2)
      assert.equal(readFileSync(path.join(home, 'dropped.txt'), 'utf8'), 'dropped into the page\n')

      page.once('dialog', (d) => void d.accept('folder one'))
      await page.click('#mkdir')
      await page.waitForSelector('tr[data-name="folder one"]')
      assert.ok(existsSync(path.join(home, 'folder one')))

      page.once('dialog', (d) => void d.accept('renamed.txt'))
      await page.click('tr[data-name="dropped.txt"] button.rename')
      await page.waitForSelector('tr[data-name="renamed.txt"]')
      assert.ok(existsSync(path.join(home, 'renamed.txt')) && !existsSync(path.join(home, 'dropped.txt')))

      mkdirSync(ARTIFACTS, {recursive: true})
      await page.screenshot({path: path.join(ARTIFACTS, 'web-client.png')})

      const cdp = await page.createCDPSession()
      await cdp.send('Browser.setDownloadBehavior', {behavior: 'allow', downloadPath: downloads})
      await page.click('tr[data-name="renamed.txt"] a')
      await pollUntil(() => existsSync(path.join(downloads, 'renamed.txt')) && readFileSync(path.join(downloads, 'renamed.txt'), 'utf8') === 'dropped into the page\n', 'the download in Chromium', 10_000, 50)

      page.once('dialog', (d) => void d.accept())
      await page.click('tr[data-name="renamed.txt"] button.delete')
      await pollUntil(async () => (await page.$('tr[data-name="renamed.txt"]')) === null, 'the deleted row to go', 10_000, 50)
      assert.ok(!existsSync(path.join(home, 'renamed.txt')))

      // the nodes saw the browser's address (X-Forwarded-For from the trusted balancer), not HAProxy's
      const logs = cluster.nodes.map((n) => n.log).join('\n')
      assert.match(logs, /\[web\] web login user=alice address=127\.0\.0\.1/)
      assert.doesNotMatch(logs, new RegExp(`\\[web\\] web login user=alice address=${LB.replace(/\./g, '\\.')}\\b`))

      await page.click('#logout')
      await page.waitForSelector('#login:not([hidden])')
    } finally {
      await browser.close().catch(() => {})
      if (pid) try { process.kill(pid, 'SIGKILL') } catch {}
    }
  })

  it('a cookie request that changes state without the CSRF token is refused (403)', async () => {
    const s = await login(LB_URL)
    const r = await http(`${LB_URL}/dav/csrf.txt`, {method: 'PUT', headers: {cookie: s.cookie}, body: 'x'})
    assert.equal(r.status, 403, r.text)
    const ok = await http(`${LB_URL}/dav/csrf.txt`, {method: 'PUT', headers: {cookie: s.cookie, 'x-csrf-token': s.csrf}, body: 'x'})
    assert.equal(ok.status, 201, ok.text)
  })

  it('LOCK through node A, then PUT without the token through node B → 423; with the token → 204', async () => {
    const auth = 'Basic ' + Buffer.from(`${WEB_USER}:${WEB_PASSWORD}`).toString('base64')
    const put = await http(`${nodeUrl(A)}/dav/locked.txt`, {method: 'PUT', headers: {authorization: auth}, body: 'v1'})
    assert.equal(put.status, 201)
    const lock = await http(`${nodeUrl(A)}/dav/locked.txt`, {
      method: 'LOCK',
      headers: {authorization: auth, 'content-type': 'application/xml', timeout: 'Second-60'},
      body: '<?xml version="1.0"?><D:lockinfo xmlns:D="DAV:"><D:lockscope><D:exclusive/></D:lockscope><D:locktype><D:write/></D:locktype><D:owner>e2e</D:owner></D:lockinfo>',
    })
    assert.equal(lock.status, 200, lock.text)
    const token = /<(.+)>/.exec(lock.headers.get('lock-token') ?? '')![1]
    for (const ip of [B, C]) {
      const denied = await http(`${nodeUrl(ip)}/dav/locked.txt`, {method: 'PUT', headers: {authorization: auth}, body: 'v2'})
      assert.equal(denied.status, 423, `${ip}: ${denied.text}`)
    }
    const allowed = await http(`${nodeUrl(B)}/dav/locked.txt`, {method: 'PUT', headers: {authorization: auth, if: `(<${token}>)`}, body: 'v3'})
    assert.equal(allowed.status, 204, allowed.text)
    const discover = await http(`${nodeUrl(C)}/dav/locked.txt`, {method: 'PROPFIND', headers: {authorization: auth, depth: '0'}, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><D:lockdiscovery/></D:prop></D:propfind>'})
    assert.ok(discover.text.includes(token), discover.text)
    const unlock = await http(`${nodeUrl(C)}/dav/locked.txt`, {method: 'UNLOCK', headers: {authorization: auth, 'lock-token': `<${token}>`}})
    assert.equal(unlock.status, 204)
    const free = await http(`${nodeUrl(A)}/dav/locked.txt`, {method: 'PUT', headers: {authorization: auth}, body: 'v4'})
    assert.equal(free.status, 204)
  })

  it('dead properties set through one node are read through another', async () => {
    const auth = 'Basic ' + Buffer.from(`${WEB_USER}:${WEB_PASSWORD}`).toString('base64')
    await http(`${nodeUrl(A)}/dav/props.txt`, {method: 'PUT', headers: {authorization: auth}, body: 'p'})
    const set = await http(`${nodeUrl(A)}/dav/props.txt`, {method: 'PROPPATCH', headers: {authorization: auth}, body: '<?xml version="1.0"?><D:propertyupdate xmlns:D="DAV:"><D:set><D:prop><t:colour xmlns:t="urn:e2e">teal</t:colour></D:prop></D:set></D:propertyupdate>'})
    assert.equal(set.status, 207, set.text)
    const get = await http(`${nodeUrl(C)}/dav/props.txt`, {method: 'PROPFIND', headers: {authorization: auth, depth: '0'}, body: '<?xml version="1.0"?><D:propfind xmlns:D="DAV:"><D:prop><t:colour xmlns:t="urn:e2e"/></D:prop></D:propfind>'})
    assert.match(get.text, /<colour xmlns="urn:e2e">teal<\/colour>/)
  })

  it('litmus locks through HAProxy passes', {skip: needs('litmus')}, async () => {
    const r = await new Promise<{code: number | null; out: string}>((resolve) => {
      const child = spawn('litmus', [`${LB_URL}/dav/`, WEB_USER, WEB_PASSWORD], {env: {...process.env, TESTS: 'locks'}, cwd: root, stdio: ['ignore', 'pipe', 'pipe']})
      let out = ''
      child.stdout.on('data', (d) => (out += d))
      child.stderr.on('data', (d) => (out += d))
      const timer = setTimeout(() => child.kill('SIGKILL'), 120_000)
      child.on('close', (code) => {
        clearTimeout(timer)
        resolve({code, out})
      })
    })
    assert.match(r.out, /summary for `locks': of \d+ tests run: \d+ passed, 0 failed/, r.out)
    assert.equal(r.code, 0, r.out)
  })

  it('logout on a secondary (B) makes the session fail on C and A within 5 s', async () => {
    const s = await login(nodeUrl(A))
    for (const ip of NODES) assert.equal((await http(`${nodeUrl(ip)}/api/session`, {headers: {cookie: s.cookie}})).status, 200, ip)
    const t0 = Date.now()
    const out = await http(`${nodeUrl(B)}/api/logout`, {method: 'POST', headers: {cookie: s.cookie, 'x-csrf-token': s.csrf}})
    assert.equal(out.status, 200, out.text)
    assert.equal((await http(`${nodeUrl(B)}/api/session`, {headers: {cookie: s.cookie}})).status, 401, 'at once on the node that logged out')
    for (const ip of [C, A]) {
      await pollUntil(async () => (await http(`${nodeUrl(ip)}/api/session`, {headers: {cookie: s.cookie}})).status === 401, `the session to fail on ${ip}`, 5000, 50)
    }
    const bearer = await http(`${nodeUrl(C)}/dav/`, {method: 'PROPFIND', headers: {authorization: `Bearer ${s.token}`, depth: '0'}})
    assert.equal(bearer.status, 401)
    process.stderr.write(`logout on a secondary: refused on every node after ${Date.now() - t0} ms\n`)
    // and the user can log in again
    const again = await login(nodeUrl(C))
    assert.equal((await http(`${nodeUrl(A)}/api/session`, {headers: {cookie: again.cookie}})).status, 200)
  })

  it('after cluster web rotate-keys, existing sessions keep working on every node and new ones use the new key', async () => {
    const before = await login(LB_URL)
    const r = await runCli(['web', 'rotate-keys', '--json'], {env: cluster.env})
    assert.equal(r.code, 0, r.stderr + r.stdout)
    const {currentKeyId, revision} = r.json<{currentKeyId: string; revision: number}>()
    assert.notEqual(currentKeyId, before.keyId)
    await pollUntil(async () => {
      const st = await runCli(['web', 'status', '--json'], {env: cluster.env})
      const doc = st.json<{nodes: {keyId: string; state: string}[]}>()
      return st.code === 0 && doc.nodes.length === 3 && doc.nodes.every((n) => n.keyId === currentKeyId && n.state === 'up')
    }, `revision ${revision} (key ${currentKeyId}) on every node`, 10_000, 100)
    for (const ip of NODES) assert.equal((await http(`${nodeUrl(ip)}/api/session`, {headers: {cookie: before.cookie}})).status, 200, `old session on ${ip}`)
    const after = await login(LB_URL)
    assert.equal(after.keyId, currentKeyId)
    assert.equal(after.token.split('.')[1], currentKeyId)
    for (const ip of NODES) assert.equal((await http(`${nodeUrl(ip)}/api/session`, {headers: {cookie: after.cookie}})).status, 200, `new session on ${ip}`)
  })

  it('a user added on the primary logs in over HTTPS on every node; users passwd ends that user\'s sessions everywhere', async () => {
    const add = await runCli(['users', 'add', 'bob', '--password', 'bob-first-password', '--json'], {env: cluster.env})
    assert.equal(add.code, 0, add.stderr)
    for (const ip of NODES) {
      await pollUntil(async () => {
        const r = await runQuiet('curl', ['-sS', '-k', '-u', 'bob:bob-first-password', '-X', 'PROPFIND', '-H', 'Depth: 0', '-o', '/dev/null', '-w', '%{http_code}', `https://${ip}:${HTTPS_PORT}/dav/`])
        return r.stdout === '207'
      }, `bob over HTTPS on ${ip}`, 10_000, 100)
    }
    const s = await login(nodeUrl(B), 'bob', 'bob-first-password')
    const pw = await runCli(['users', 'passwd', 'bob', '--password', 'bob-second-password', '--json'], {env: cluster.env})
    assert.equal(pw.code, 0, pw.stderr + pw.stdout)
    for (const ip of NODES) await pollUntil(async () => (await http(`${nodeUrl(ip)}/api/session`, {headers: {cookie: s.cookie}})).status === 401, `bob's old session to fail on ${ip}`, 5000, 50)
  })
})
