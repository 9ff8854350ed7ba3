"""The syscall-gate Action's client: asks the gate server whether a canary may
proceed to the next rollout stage, and reports the answer to GitHub.

It runs on a CI runner with requests, PyYAML and jsonschema alone and imports
nothing of the syscall-gate repository (see action/requirements.txt).
"""
