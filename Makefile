# netdiag.tracekit: every command a developer, CI or a user runs. Run as root (namespaces, eBPF, apt).
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
BUILD := $(ROOT)/.build
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(BUILD)/collections
export ANSIBLE_CONFIG := $(ROOT)/ansible.cfg
export TRACEKIT_PYTHON := $(BIN)/python
# Outside the work tree: inside it, git (and so ansible-test) would see the copy as ignored files.
SANITY_DIR := /tmp/netdiag-tracekit-sanity/$(shell echo $(ROOT) | md5sum | cut -c1-8)/ansible_collections/netdiag/tracekit
PIP_CACHE := $(HOME)/.ansible/test/cache
LAB_INVENTORY := $(BUILD)/lab/inventory.yml
REPORT_DIR := $(BUILD)/reports

.PHONY: bootstrap demo lab lab-absent test sanity lint units fuzz integration molecule bench docs clean

bootstrap:
	@tools/bootstrap.sh

## The main job: build the lab, then diagnose a blocked port and an allowed one.
demo: bootstrap
	ansible-playbook playbooks/lab.yml -e lab_inventory_file=$(LAB_INVENTORY) -e lab_ovn=true
	ansible-playbook -i $(LAB_INVENTORY) playbooks/diagnose_drop.yml \
	  -e src=n1-pod1 -e dst=n2-pod1 -e protocol=tcp -e dst_port=5432 -e report_dir=$(REPORT_DIR)/policy-drop
	ansible-playbook -i $(LAB_INVENTORY) playbooks/diagnose_drop.yml \
	  -e src=n1-pod1 -e dst=n2-pod1 -e protocol=tcp -e dst_port=8080 -e report_dir=$(REPORT_DIR)/allowed
	@echo "Reports: $(REPORT_DIR)/*/diagnosis.json"

lab: bootstrap
	ansible-playbook playbooks/lab.yml -e lab_inventory_file=$(LAB_INVENTORY) -e lab_ovn=true

lab-absent: bootstrap
	ansible-playbook playbooks/lab.yml -e lab_state=absent

## Everything CI runs.
test: bootstrap
	$(MAKE) sanity lint units fuzz integration molecule

sanity:
	@mkdir -p $(PIP_CACHE) $(SANITY_DIR)
	@cp tools/get_pip_shim.py $(PIP_CACHE)/get_pip_24_2.py
	@# A sanity venv whose pip bootstrap was interrupted has no pip: remove it so ansible-test rebuilds it.
	@for v in $(HOME)/.ansible/test/venv/*/*/*/; do [ -e "$$v/bin/pip" ] || rm -rf "$$v"; done
	@ls $(PIP_CACHE)/pip-24.2-py3-none-any.whl >/dev/null 2>&1 || \
	  $(BIN)/pip download -q --no-deps -d $(PIP_CACHE) pip==24.2
	@rm -rf $(SANITY_DIR) && mkdir -p $(SANITY_DIR) && rsync -a \
	  --files-from=<(git ls-files -co --exclude-standard) ./ $(SANITY_DIR)/
	cd $(SANITY_DIR) && ansible-test sanity --local --python 3.11 --color no

lint:
	@# An older ansible-lint run may have copied the collection here; that copy would hide this work tree's.
	@rm -rf $(HOME)/.ansible/collections/ansible_collections/netdiag/tracekit
	ansible-lint --profile production

units:
	pytest -q tests/unit

## Every parser fuzzed (bounded examples); a campaign: make fuzz TRACEKIT_FUZZ_EXAMPLES=20000 TRACEKIT_FUZZ_RANDOM=1
fuzz:
	pytest -q -p no:cacheprovider tests/fuzz

integration:
	pytest -q tests/integration

molecule:
	@for role in roles/*/; do \
	  if [ -d "$$role/molecule" ]; then (cd "$$role" && molecule test --all) || exit 1; fi; \
	done

bench: bootstrap
	@for b in bench/bench_*.py; do $(BIN)/python "$$b" || exit 1; done

clean:
	-ansible-playbook playbooks/lab.yml -e lab_state=absent
	rm -rf $(BUILD) tests/output
