# redisible: make help lists the targets.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
export REDISIBLE_CACHE ?= $(HOME)/.cache/redisible
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
IMG ?= quay.io/redisible/redisible-operator:0.1.0

.PHONY: help setup lint test test-unit test-integration crds bench run deploy undeploy demo

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

setup: ## Install everything (apt, Python venv, every Redis version)
	bash hack/setup.sh

lint: ## ruff, yamllint, ansible-lint (production profile)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/yamllint -s .
	$(VENV)/bin/ansible-lint --offline

test: ## The whole test suite (unit, manifests, real Redis of every version)
	$(PY) -m pytest -n 2 --dist loadgroup

test-unit: ## Fast tests: pure planner, CRD schema, rendered manifests
	$(PY) -m pytest tests/unit

test-integration: ## Real redis-server processes of every supported version
	$(PY) -m pytest tests/integration

crds: ## Regenerate config/crd/bases from hack/gen_crds.py
	$(PY) hack/gen_crds.py

bench: ## Scale-out benchmark: our converge vs redis-cli and raw MIGRATE
	$(PY) bench/bench_scale_out.py

demo: ## Main job: a RedisCluster converged on real Redis processes on loopback, topology printed
	$(PY) hack/demo.py

run: ## Run the operator out of cluster against KUBECONFIG (needs ansible-operator on PATH)
	ANSIBLE_ROLES_PATH=$(CURDIR)/roles ANSIBLE_LIBRARY=$(CURDIR)/library \
	ANSIBLE_MODULE_UTILS=$(CURDIR)/module_utils ansible-operator run --watches-file=./watches.yaml

deploy: ## Install CRDs, RBAC and the operator Deployment into KUBECONFIG's cluster
	kubectl apply -k config/default

undeploy: ## Remove what deploy installed
	kubectl delete -k config/default --ignore-not-found
