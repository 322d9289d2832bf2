#!/bin/sh
# Builds the Ansible Galaxy fixtures with ansible-galaxy itself (Debian's ansible-core):
# testns.base 1.0.0 and 1.1.0, and testns.hello 1.0.0, which depends on testns.base >=1.0.0.
# Each collection is a galaxy.yml, a README and one module, built by `ansible-galaxy collection
# build` into this directory (testns-{name}-{version}.tar.gz). Run it from anywhere.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

collection() { # name version dependencies-yaml
    dir="$work/$1-$2"
    mkdir -p "$dir/plugins/modules" "$dir/meta"
    cat >"$dir/galaxy.yml" <<YAML
namespace: testns
name: $1
version: $2
readme: README.md
authors:
  - proxy tests
description: A fixture collection for the proxy's tests ($1 $2)
license:
  - MIT
dependencies: $3
repository: https://example.invalid/testns/$1
build_ignore: []
YAML
    printf '# testns.%s %s\n\nA fixture collection for the proxy'"'"'s tests.\n' "$1" "$2" >"$dir/README.md"
    printf 'requires_ansible: ">=2.14.0"\n' >"$dir/meta/runtime.yml"
    cat >"$dir/plugins/modules/$1_ping.py" <<PY
#!/usr/bin/python
DOCUMENTATION = r"""
module: $1_ping
short_description: Answers pong ($1 $2)
description: A fixture module.
author: proxy tests
"""
from ansible.module_utils.basic import AnsibleModule


def main():
    AnsibleModule(argument_spec={}).exit_json(changed=False, ping="pong", version="$2")


if __name__ == "__main__":
    main()
PY
    ansible-galaxy collection build --force --output-path "$here" "$dir" >/dev/null
}

collection base 1.0.0 '{}'
collection base 1.1.0 '{}'
collection hello 1.0.0 '{"testns.base": ">=1.0.0"}'
ls "$here"/*.tar.gz
