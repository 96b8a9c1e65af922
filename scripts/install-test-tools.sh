#!/bin/sh
# Installs the external clients the tests drive (OpenSSH sftp/ssh, curl, lftp, wget, tnftp, python3, rclone) when this machine allows it
# (root, or sudo without a password); otherwise the tests that need a missing tool are skipped with a notice.
set -eu
missing=""
command -v sftp >/dev/null 2>&1 || missing="$missing openssh-client"
command -v curl >/dev/null 2>&1 || missing="$missing curl"
command -v lftp >/dev/null 2>&1 || missing="$missing lftp"
command -v haproxy >/dev/null 2>&1 || missing="$missing haproxy"
[ -x /usr/sbin/vsftpd ] || missing="$missing vsftpd"
command -v wget >/dev/null 2>&1 || missing="$missing wget"
command -v tnftp >/dev/null 2>&1 || missing="$missing tnftp"
[ -x /usr/bin/python3 ] || missing="$missing python3"
command -v rclone >/dev/null 2>&1 || missing="$missing rclone"
[ -z "$missing" ] && { echo "test tools present: sftp ssh curl lftp haproxy vsftpd wget tnftp python3 rclone"; exit 0; }
if ! command -v apt-get >/dev/null 2>&1; then
  echo "NOTICE: cannot install$missing here (no apt-get); their tests will be skipped" >&2; exit 0
fi
if [ "$(id -u)" = 0 ]; then SUDO=""; elif sudo -n true 2>/dev/null; then SUDO="sudo"; else
  echo "NOTICE: cannot install$missing (not root, no passwordless sudo); run: sudo apt-get install$missing" >&2; exit 0
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq && $SUDO apt-get install -y -qq --no-install-recommends $missing
