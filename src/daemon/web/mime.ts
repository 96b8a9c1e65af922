// Content types by file extension for downloads; anything unknown is application/octet-stream.
const TYPES: Record<string, string> = {
  txt: 'text/plain; charset=utf-8', html: 'text/html; charset=utf-8', htm: 'text/html; charset=utf-8', css: 'text/css; charset=utf-8',
  js: 'text/javascript; charset=utf-8', json: 'application/json', xml: 'application/xml', pdf: 'application/pdf', png: 'image/png',
  jpg: 'image/jpeg', jpeg: 'image/jpeg', gif: 'image/gif', svg: 'image/svg+xml', webp: 'image/webp', zip: 'application/zip',
  gz: 'application/gzip', tar: 'application/x-tar', mp4: 'video/mp4', mp3: 'audio/mpeg', csv: 'text/csv; charset=utf-8',
}

export function contentType(name: string): string {
  const dot = name.lastIndexOf('.')
  return (dot >= 0 && TYPES[name.slice(dot + 1).toLowerCase()]) || 'application/octet-stream'
}
