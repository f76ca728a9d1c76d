package web_test

import (
	"database/sql"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"

	_ "github.com/jackc/pgx/v4/stdlib"

	"github.com/qg-go/qg"
	"github.com/qg-go/qg/web"
)

// An application mounts the read-only dashboard under a prefix of its own.
func ExampleNew() {
	db, err := sql.Open("pgx", os.Getenv("DATABASE_URL"))
	if err != nil {
		panic(err)
	}
	defer db.Close()
	c, err := qg.NewClient2(db)
	if err != nil {
		panic(err)
	}
	defer c.Close()
	h, err := web.New(c, web.Config{})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/admin/jobs/", http.StripPrefix("/admin/jobs", h))
	srv := httptest.NewServer(mux) // in an application: http.ListenAndServe
	defer srv.Close()

	for _, path := range []string{"/admin/jobs/", "/admin/jobs/metrics"} {
		res, err := http.Get(srv.URL + path)
		if err != nil {
			panic(err)
		}
		res.Body.Close()
		fmt.Println(path, res.StatusCode, res.Header.Get("Content-Type"))
	}
	// Output:
	// /admin/jobs/ 200 text/html; charset=utf-8
	// /admin/jobs/metrics 200 text/plain; version=0.0.4; charset=utf-8
}
