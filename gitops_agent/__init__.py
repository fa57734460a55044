"""gitops-agent: GitOps for plain servers and VMs, applied through ansible-runner."""

__version__ = "0.1.0"
