#!/bin/sh
# Installs the external clients and reference servers the tests drive when this machine allows it (root, or
# sudo without a password); otherwise the tests that need a missing tool are skipped with a notice.
set -eu
missing=""
need() { command -v "$1" >/dev/null 2>&1 || missing="$missing $2"; }
need sftp openssh-client
[ -x /usr/sbin/sshd ] || missing="$missing openssh-server"
need sshfs "sshfs fuse3"
/usr/bin/python3 -c 'import paramiko' >/dev/null 2>&1 || missing="$missing python3 python3-paramiko"
need rclone rclone
need curl curl
need wget wget
need lftp lftp
need tnftp tnftp
[ -x /usr/sbin/vsftpd ] || missing="$missing vsftpd"
need haproxy haproxy
need litmus litmus
need cadaver cadaver
[ -x /usr/bin/chromium ] || missing="$missing chromium"
[ -x /usr/sbin/nginx ] || missing="$missing nginx"
need tmux tmux
[ -z "$missing" ] && { echo "test tools present: sftp ssh sshd sshfs paramiko rclone curl wget lftp tnftp vsftpd haproxy litmus cadaver chromium nginx tmux"; exit 0; }
if ! command -v apt-get >/dev/null 2>&1; then
  echo "NOTICE: cannot install$missing here (no apt-get); their tests will be skipped" >&2; exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; else
  echo "NOTICE: cannot install$missing (not root, no passwordless sudo); run: sudo apt-get install$missing" >&2; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing
