package main

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
)

// checkCluster makes sure the cluster -restart-postgres would restart
// (pg_ctlcluster <major> <-pg-cluster>) is the server of -database-url: the
// same major version, listening on the port that server reports. Restarting
// another cluster would disrupt whoever uses it, and not this run.
func (s *supervisor) checkCluster(ctx context.Context) error {
	var port string
	if err := s.admin.QueryRowContext(ctx, `SELECT current_setting('port')`).Scan(&port); err != nil {
		return fmt.Errorf("read the server's port: %w", err)
	}
	out, err := exec.CommandContext(ctx, "pg_lsclusters", "--no-header").Output()
	if err != nil {
		return fmt.Errorf("-restart-postgres: pg_lsclusters: %w", err)
	}
	major := strconv.Itoa(s.version / 10000)
	clusterPort, found := clusterPort(string(out), major, s.cfg.pgCluster)
	switch {
	case !found:
		return fmt.Errorf("-restart-postgres: pg_lsclusters lists no cluster %s/%s (the server of -database-url is PostgreSQL %s); name it with -pg-cluster",
			major, s.cfg.pgCluster, major)
	case clusterPort != port:
		return fmt.Errorf("-restart-postgres: cluster %s/%s listens on port %s, but the server of -database-url on port %s; "+
			"name its cluster with -pg-cluster", major, s.cfg.pgCluster, clusterPort, port)
	}
	return nil
}

// clusterPort finds the port of cluster major/name in pg_lsclusters output
// (columns: version, cluster, port, status, ...).
func clusterPort(lsclusters, major, name string) (string, bool) {
	for _, line := range strings.Split(lsclusters, "\n") {
		f := strings.Fields(line)
		if len(f) >= 3 && f[0] == major && f[1] == name {
			return f[2], true
		}
	}
	return "", false
}
