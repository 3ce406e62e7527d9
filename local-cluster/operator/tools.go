//go:build tools

// Package operator pins the ansible-operator command.
package operator

import _ "github.com/operator-framework/ansible-operator-plugins/cmd/ansible-operator"
