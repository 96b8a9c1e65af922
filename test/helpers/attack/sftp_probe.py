# SFTP probes of issue 9 with paramiko against a real node; prints one JSON document of what happened.
# Usage: sftp_probe.py HOST PORT USER PASSWORD
import json, sys
import paramiko

host, port, user, password = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
out = {}
t = paramiko.Transport((host, port))
t.connect(username=user, password=password)

# 1. channels per connection: 80 SFTP channels asked for on one connection
clients = []
for i in range(80):
    try:
        clients.append(paramiko.SFTPClient.from_transport(t))
    except Exception as e:
        out.setdefault('channelError', str(e))
out['channels'] = len(clients)
s = clients[0]
s.putfo(__import__('io').BytesIO(b'AAAA'), 'four')

# 2. open handles per connection, spread over the channels (each channel allows 256)
handles, reason = [], None
try:
    for c in clients:
        for j in range(256):
            handles.append(c.open('four', 'rb'))
except IOError as e:
    reason = str(e)
out['handles'] = len(handles)
out['handleError'] = reason
for h in handles:
    h.close()

# 3. offsets >= 2^53: a write and a read must fail, the connection must stay up, the file must be intact
def attempt(fn):
    try:
        fn()
        return 'ok'
    except Exception as e:
        return 'error: %s' % e
f = s.open('four', 'r+b')
f.seek(2 ** 53 + 1)
out['bigWrite'] = attempt(lambda: (f.write(b'B'), f.flush()))
g = s.open('four', 'rb')
g.seek(2 ** 60)
out['bigRead'] = attempt(lambda: g.read(4))
out['afterBig'] = s.open('four', 'rb').read().decode()
out['alive'] = t.is_active()

# 4. status codes: a name too long, a directory into itself, a directory opened as a file
out['tooLong'] = attempt(lambda: s.mkdir('n' * 300))
s.mkdir('dir')
out['intoItself'] = attempt(lambda: s.posix_rename('dir', 'dir/inner'))
out['isDirectory'] = attempt(lambda: s.open('dir', 'rb').read(1))
t.close()
print(json.dumps(out))
