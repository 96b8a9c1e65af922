# Slow upload of one file (64 KiB chunks with a pause) over SFTP (paramiko) or FTP (ftplib), so two of them
# overlap. Exit 0 when the server confirmed the upload (SFTP close OK / FTP 226), 1 with the reason otherwise.
# Usage: upload.py sftp|ftp HOST PORT USER PASSWORD SRC REMOTE PAUSE_SECONDS
import sys, time

proto, host, port, user, password, src, remote, pause = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7], float(sys.argv[8])
data = open(src, 'rb').read()
chunks = [data[i:i + 65536] for i in range(0, len(data), 65536)]
try:
    if proto == 'sftp':
        import paramiko
        t = paramiko.Transport((host, port))
        t.connect(username=user, password=password)
        s = paramiko.SFTPClient.from_transport(t)
        f = s.open(remote, 'wb')
        for c in chunks:
            f.write(c)
            time.sleep(pause)
        f.close()
        t.close()
    else:
        import ftplib
        c = ftplib.FTP()
        c.connect(host, port, timeout=30)
        c.login(user, password)
        conn = c.transfercmd('STOR ' + remote)
        for ch in chunks:
            conn.sendall(ch)
            time.sleep(pause)
        conn.close()
        reply = c.voidresp()
        c.quit()
except Exception as e:
    print('refused: %s' % e)
    sys.exit(1)
print('ok')
