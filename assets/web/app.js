// The browser client: log in, list, upload (drag and drop, with progress), download, new folder, rename,
// delete. Talks to /api (JSON) and /dav (WebDAV) with the session cookie and the CSRF token.
'use strict'
const $ = (id) => document.getElementById(id)
let csrf = null
let cwd = '/'

const davUrl = (p) => '/dav' + p.split('/').map(encodeURIComponent).join('/')
const join = (dir, name) => (dir.endsWith('/') ? dir : dir + '/') + name

async function call(method, url, {body, headers = {}} = {}) {
  const h = {...headers}
  if (csrf && method !== 'GET') h['X-CSRF-Token'] = csrf
  const res = await fetch(url, {method, headers: h, body, credentials: 'same-origin'})
  if (res.status === 401) {
    showLogin('Your session has ended; log in again.')
    throw new Error('not logged in')
  }
  if (!res.ok && res.status !== 207) {
    let msg = res.statusText
    try { msg = (await res.json()).error || msg } catch { try { msg = await res.text() } catch {} }
    throw new Error(`${method} failed (${res.status}): ${msg}`)
  }
  return res
}

function say(text) { $('status').textContent = text }

function showLogin(message = '') {
  csrf = null
  $('files').hidden = true
  $('logout').hidden = true
  $('who').textContent = ''
  $('login').hidden = false
  $('login-error').textContent = message
}

async function showFiles(user) {
  $('login').hidden = true
  $('files').hidden = false
  $('logout').hidden = false
  $('who').textContent = user
  await list(cwd)
}

function size(n) {
  if (n < 1024) return n + ' B'
  const u = ['KiB', 'MiB', 'GiB', 'TiB']
  let i = -1
  do { n /= 1024; i++ } while (n >= 1024 && i < u.length - 1)
  return n.toFixed(1) + ' ' + u[i]
}

function crumbs() {
  const nav = $('crumbs')
  nav.textContent = ''
  const parts = cwd.split('/').filter(Boolean)
  const add = (label, target) => {
    const a = document.createElement('a')
    a.textContent = label
    a.onclick = () => list(target)
    nav.append(a, document.createTextNode(' / '))
  }
  add('home', '/')
  parts.forEach((p, i) => add(p, '/' + parts.slice(0, i + 1).join('/')))
}

async function list(dir) {
  const res = await call('GET', '/api/list?path=' + encodeURIComponent(dir))
  const doc = await res.json()
  cwd = doc.path
  crumbs()
  const body = $('entries')
  body.textContent = ''
  for (const e of doc.entries) {
    const tr = document.createElement('tr')
    tr.dataset.name = e.name
    const name = document.createElement('td')
    const link = document.createElement('a')
    link.textContent = e.directory ? e.name + '/' : e.name
    link.href = e.directory ? '#' : davUrl(join(cwd, e.name))
    if (e.directory) link.onclick = (ev) => { ev.preventDefault(); list(join(cwd, e.name)) }
    else link.download = e.name
    name.append(link)
    const sz = document.createElement('td')
    sz.textContent = e.directory ? '' : size(e.size)
    const mod = document.createElement('td')
    mod.textContent = new Date(e.modified).toLocaleString()
    const actions = document.createElement('td')
    actions.className = 'actions'
    const rename = document.createElement('button')
    rename.textContent = 'Rename'
    rename.className = 'rename'
    rename.onclick = () => renameEntry(e)
    const del = document.createElement('button')
    del.textContent = 'Delete'
    del.className = 'delete'
    del.onclick = () => deleteEntry(e)
    actions.append(rename, ' ', del)
    tr.append(name, sz, mod, actions)
    body.append(tr)
  }
  say(`${doc.entries.length} item${doc.entries.length === 1 ? '' : 's'}`)
}

async function renameEntry(e) {
  const to = prompt(`Rename ${e.name} to`, e.name)
  if (!to || to === e.name) return
  const dest = new URL(davUrl(join(cwd, to)) + (e.directory ? '/' : ''), location.href).href
  await call('MOVE', davUrl(join(cwd, e.name)), {headers: {Destination: dest, Overwrite: 'F'}}).catch((err) => say(err.message))
  await list(cwd)
}

async function deleteEntry(e) {
  if (!confirm(`Delete ${e.name}${e.directory ? ' and everything in it' : ''}?`)) return
  await call('DELETE', davUrl(join(cwd, e.name))).catch((err) => say(err.message))
  await list(cwd)
}

function upload(file) {
  return new Promise((resolve) => {
    const li = document.createElement('li')
    const bar = document.createElement('progress')
    bar.max = 100
    bar.value = 0
    li.append(document.createTextNode(file.name + ' '), bar)
    $('progress').append(li)
    const xhr = new XMLHttpRequest()
    xhr.open('PUT', davUrl(join(cwd, file.name)))
    xhr.setRequestHeader('X-CSRF-Token', csrf)
    xhr.upload.onprogress = (ev) => { if (ev.lengthComputable) bar.value = Math.round((ev.loaded / ev.total) * 100) }
    xhr.onload = () => {
      bar.value = 100
      li.dataset.done = xhr.status < 300 ? 'ok' : 'failed'
      if (xhr.status >= 300) li.append(` failed (${xhr.status})`)
      resolve()
    }
    xhr.onerror = () => { li.dataset.done = 'failed'; li.append(' failed'); resolve() }
    xhr.send(file)
  })
}

async function uploadAll(files) {
  for (const f of files) await upload(f)
  await list(cwd)
}

window.addEventListener('DOMContentLoaded', async () => {
  $('login').onsubmit = async (ev) => {
    ev.preventDefault()
    $('login-error').textContent = ''
    const res = await fetch('/api/login', {method: 'POST', headers: {'Content-Type': 'application/json'}, body: JSON.stringify({user: $('user').value, password: $('password').value})})
    const doc = await res.json().catch(() => ({}))
    if (!res.ok) return void ($('login-error').textContent = doc.error || 'login failed')
    csrf = doc.csrfToken
    $('password').value = ''
    await showFiles(doc.user)
  }
  $('logout').onclick = async () => {
    await call('POST', '/api/logout').catch(() => {})
    showLogin('Logged out.')
  }
  $('mkdir').onclick = async () => {
    const name = prompt('New folder name')
    if (!name) return
    await call('MKCOL', davUrl(join(cwd, name))).catch((err) => say(err.message))
    await list(cwd)
  }
  $('upload').onchange = (ev) => uploadAll([...ev.target.files])
  const drop = $('drop')
  drop.ondragover = (ev) => { ev.preventDefault(); drop.classList.add('over') }
  drop.ondragleave = () => drop.classList.remove('over')
  drop.ondrop = (ev) => { ev.preventDefault(); drop.classList.remove('over'); uploadAll([...ev.dataTransfer.files]) }
  const res = await fetch('/api/session', {credentials: 'same-origin'})
  if (res.ok) {
    const doc = await res.json()
    csrf = doc.csrfToken
    await showFiles(doc.user)
  } else showLogin()
})
