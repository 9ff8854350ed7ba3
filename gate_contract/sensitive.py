"""The default sensitive paths: read by the judge (gate_server/analysis/config.py's
sensitive_paths.use_defaults) and by the probe, whose fentry file hook keys a file
that is one of them by its inode (host_probe/keys/sensitive_inodes.py), so that a
hard link or bind mount of a secret is judged as the secret."""

# Credentials and kernel/secret interfaces a service should not touch unless it
# always has (then the baseline has it too and it is not news). '~/' = any home.
DEFAULT_SENSITIVE_PATHS = (
    "/etc/shadow", "/etc/shadow-", "/etc/gshadow", "/etc/gshadow-", "/etc/security/opasswd",
    "/etc/sudoers", "/etc/sudoers.d/*",
    "~/.ssh/*", "/etc/ssh/ssh_host_*_key",
    "~/.aws/credentials", "~/.aws/config", "~/.config/gcloud/*", "~/.azure/*",
    "~/.kube/config", "~/.docker/config.json", "~/.netrc", "~/.git-credentials", "~/.gnupg/*",
    "~/.bash_history", "~/.pgpass",
    "/var/run/secrets/kubernetes.io/*", "/run/secrets/kubernetes.io/*", "/etc/kubernetes/pki/*",
    "/etc/ssl/private/*", "/etc/pki/tls/private/*",
    "/proc/*/mem", "/proc/*/environ", "/proc/kcore", "/dev/mem", "/dev/kmem", "/dev/port",
    "/boot/*", "/sys/kernel/security/*",
)
