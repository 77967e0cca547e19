// Package deploy holds no code: its tests check the deployment files of this
// repository (deploy/Dockerfile's build, docker-compose.yml, deploy/compose/,
// deploy/kubernetes/) without a Docker engine or a cluster. It is a module of
// its own so that compose-go and the Kubernetes API types stay out of the
// service's module; .ci/run runs its tests after the main module's.
package deploy
