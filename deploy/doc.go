// Package deploy holds the tests of Latchkey's deployment artefacts: the Helm chart in
// charts/latchkey, the kustomize manifests in k8s/, the Dockerfile in docker/ and the Tiltfile.
//
// It is a module of its own so that helm's and kustomize's dependency trees stay out of the services'
// modules. The tests render the chart with helm's Go SDK and the overlays with kustomize's krusty,
// decode every object strictly into the Kubernetes API types, and walk every documented API path
// through each router built from charts/latchkey/routes.yaml.
package deploy
