# etcd 3.4 from Debian's etcd-server package, for docker/compose-etcd.yml and the Kubernetes
# manifests in docker/deploy/kubernetes/etcd/. Build from the repository root:
#   docker build -f docker/etcd.Dockerfile -t dualkv-etcd:local .
# FROM the offline base image (bash docker/base-image.sh), or any Debian bookworm image.
ARG BASE_IMAGE=dualkv-node-base:local
FROM ${BASE_IMAGE}
# uid 10001, as in the dualkv image: the secrets (docker/gateway-secrets.sh, owned by 10001,
# mode 600) are readable by every image of the stack and by no one else. Made before the
# package, whose install script then keeps this user. policy-rc.d: the package must not try to
# start etcd while the image is built.
RUN groupadd --system --gid 10001 etcd \
 && useradd --system --uid 10001 --gid etcd --home-dir /var/lib/etcd --no-create-home --shell /usr/sbin/nologin etcd \
 && printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d && chmod 755 /usr/sbin/policy-rc.d \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends etcd-server etcd-client curl ca-certificates >/dev/null \
 && rm -rf /var/lib/apt/lists/* /usr/sbin/policy-rc.d \
 && mkdir -p /var/lib/etcd && chown etcd:etcd /var/lib/etcd && chmod 700 /var/lib/etcd \
 && etcd --version | head -1
COPY docker/etcd-auth.sh /usr/local/bin/dualkv-etcd-auth
USER etcd
WORKDIR /var/lib/etcd
VOLUME ["/var/lib/etcd"]
EXPOSE 2379/tcp 2380/tcp
# /health answers {"health":"true"} once the member has a leader, with auth on or off.
HEALTHCHECK --interval=5s --timeout=5s --start-period=30s --retries=3 \
  CMD curl -fsS http://127.0.0.1:2379/health | grep -q '"health":"true"' || exit 1
CMD ["etcd", "--data-dir=/var/lib/etcd/data"]
