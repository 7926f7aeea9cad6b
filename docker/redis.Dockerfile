# redis-server 7.0 from Debian's redis-server package, for docker/compose-redis-cluster.yml and
# the Kubernetes manifests in docker/deploy/kubernetes/redis-cluster/. Build from the root:
#   docker build -f docker/redis.Dockerfile -t dualkv-redis:local .
# FROM the offline base image (bash docker/base-image.sh), or any Debian bookworm image.
ARG BASE_IMAGE=dualkv-node-base:local
FROM ${BASE_IMAGE}
# uid 10001, as in the dualkv image: the secrets (docker/gateway-secrets.sh, owned by 10001,
# mode 600) are readable by every image of the stack and by no one else. policy-rc.d: the
# package must not try to start redis while the image is built.
RUN groupadd --system --gid 10001 redis \
 && useradd --system --uid 10001 --gid redis --home-dir /var/lib/redis --no-create-home --shell /usr/sbin/nologin redis \
 && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server redis-tools >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && mkdir -p /data && chown redis:redis /data && chmod 700 /data \
 && redis-server --version
COPY docker/redis-cluster-create.sh /usr/local/bin/dualkv-redis-cluster-create
USER redis
WORKDIR /data
VOLUME ["/data"]
EXPOSE 6379/tcp 16379/tcp
# No HEALTHCHECK here: PING needs the ACL user, whose password file the compose file mounts.
CMD ["redis-server", "--dir", "/data"]
