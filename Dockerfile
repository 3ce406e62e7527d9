# The operator image: the official Ansible operator runtime plus our roles, modules and
# module_utils. Pinned to the same ansible-operator-plugins release the local e2e builds.
FROM quay.io/operator-framework/ansible-operator:v1.39.0

COPY requirements.yml ${HOME}/requirements.yml
RUN ansible-galaxy collection install -r ${HOME}/requirements.yml \
 && chmod -R ug+rwx ${HOME}/.ansible

# The runtime's own ansible-core, kubernetes and ansible-runner stay as shipped; we add the
# Redis client, jmespath and boto3 (S3 backups) at the versions requirements.txt pins.
RUN python3 -m pip install --no-cache-dir "redis==6.4.0" "jmespath==1.1.0" "boto3==1.44.8"

COPY watches.yaml ${HOME}/watches.yaml
COPY ansible.cfg ${HOME}/ansible.cfg
COPY roles/ ${HOME}/roles/
COPY playbooks/ ${HOME}/playbooks/
COPY library/ ${HOME}/library/
COPY module_utils/ ${HOME}/module_utils/
COPY plugins/ ${HOME}/plugins/

ENV ANSIBLE_LIBRARY=${HOME}/library \
    ANSIBLE_MODULE_UTILS=${HOME}/module_utils \
    ANSIBLE_DOC_FRAGMENT_PLUGINS=${HOME}/plugins/doc_fragments \
    ANSIBLE_FILTER_PLUGINS=${HOME}/plugins/filter \
    ANSIBLE_ROLES_PATH=${HOME}/roles
