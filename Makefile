# redisible: make help lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export REDISIBLE_CACHE ?= $(HOME)/.cache/redisible
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
IMG ?= quay.io/redisible/redisible-operator:0.1.0

.PHONY: help setup lint test test-unit test-integration e2e crds bench bench-backup run deploy undeploy demo \
	cluster-up cluster-down cluster-status demo-down demo-local

help: ## List the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install everything (apt, Python venv, every Redis version)
	bash hack/setup.sh

lint: ## ruff, yamllint, ansible-lint (production profile)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/yamllint -s .
	$(VENV)/bin/ansible-lint --offline

test: ## The whole suite: unit, real Redis of every version, e2e on a real Kubernetes
	bash hack/test.sh

test-unit: ## Fast tests: pure planner, CRD schema, rendered manifests
	$(PY) -m pytest tests/unit

test-integration: ## Real redis-server processes of every supported version
	$(PY) -m pytest tests/integration

e2e: ## Only the e2e suite (brings the local cluster up unless KUBECONFIG answers)
	bash hack/test.sh --e2e

cluster-up: ## Build (once) and start the local single-node Kubernetes
	local-cluster/cluster.sh up

cluster-down: ## Stop the local Kubernetes (its state stays for the next cluster-up)
	local-cluster/cluster.sh down

cluster-status: ## What runs of the local Kubernetes
	local-cluster/cluster.sh status

crds: ## Regenerate config/crd/bases from hack/gen_crds.py
	$(PY) hack/gen_crds.py

bench: ## Scale-out benchmark: our converge vs redis-cli and raw MIGRATE
	$(PY) bench/bench_scale_out.py

bench-backup: ## Backup/restore benchmark: ours vs redis-cli --rdb and a plain RDB load
	$(PY) bench/bench_backup_restore.py

demo: ## Main job: the operator on Kubernetes (local one unless KUBECONFIG answers) runs the sample RedisCluster
	$(PY) hack/demo_k8s.py

demo-down: ## Stop the demo's operator and the local Kubernetes
	@# The operator and every run it started (in sessions of their own) are its descendants.
	-hack/kill-tree.sh $$(cat $${REDISIBLE_CLUSTER_DIR:-/var/lib/redisible-cluster}/run/demo-operator.pid 2>/dev/null)
	-rm -f $${REDISIBLE_CLUSTER_DIR:-/var/lib/redisible-cluster}/run/demo-operator.pid
	local-cluster/cluster.sh down

demo-local: ## No Kubernetes: a cluster of redis-server processes on loopback, grown 3 -> 4 shards
	$(PY) hack/demo.py

run: ## Run the operator out of cluster against KUBECONFIG (built by cluster-up)
	hack/run-operator.sh

deploy: ## Install CRDs, RBAC and the operator Deployment (image IMG) into KUBECONFIG's cluster
	hack/deploy.sh apply $(IMG)

undeploy: ## Remove what deploy installed
	hack/deploy.sh delete $(IMG)
