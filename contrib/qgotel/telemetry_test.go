package qgotel_test

import (
	"context"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/qg-go/qg/contrib/qgotel"
)

// telemetry is a Telemetry whose spans and metrics stay in memory.
type telemetry struct {
	*qgotel.Telemetry
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
}

// newTelemetry returns a Telemetry on in-memory exporters, with carrier.
func newTelemetry(t *testing.T, carrier qgotel.Carrier, link bool) *telemetry {
	t.Helper()
	spans := tracetest.NewSpanRecorder()
	reader := sdkmetric.NewManualReader()
	tel, err := qgotel.New(qgotel.Config{
		TracerProvider: sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)),
		MeterProvider:  sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader)),
		Propagator:     propagation.TraceContext{},
		Carrier:        carrier,
		Link:           link,
	})
	if err != nil {
		t.Fatal(err)
	}
	return &telemetry{Telemetry: tel, spans: spans, reader: reader}
}

// span returns the one ended span named name.
func (tel *telemetry) span(t *testing.T, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	var found []sdktrace.ReadOnlySpan
	for _, s := range tel.spans.Ended() {
		if s.Name() == name {
			found = append(found, s)
		}
	}
	if len(found) != 1 {
		t.Fatalf("%d spans named %q, want 1", len(found), name)
	}
	return found[0]
}

// attr returns the attribute key of s, and whether s has it.
func attr(s sdktrace.ReadOnlySpan, key attribute.Key) (attribute.Value, bool) {
	for _, kv := range s.Attributes() {
		if kv.Key == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

// wantAttrs fails the test for each of want that s lacks or holds
// otherwise.
func wantAttrs(t *testing.T, s sdktrace.ReadOnlySpan, want ...attribute.KeyValue) {
	t.Helper()
	for _, kv := range want {
		if v, ok := attr(s, kv.Key); !ok || v != kv.Value {
			t.Errorf("span %q: %s = %v (present: %v), want %v", s.Name(), kv.Key, v.Emit(), ok, kv.Value.Emit())
		}
	}
}

// metrics collects the metrics recorded so far, by name.
func (tel *telemetry) metrics(t *testing.T) map[string]metricdata.Aggregation {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := tel.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	out := map[string]metricdata.Aggregation{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m.Data
		}
	}
	return out
}

// sum is the value of the counter name at the attributes set, 0 when
// there is none.
func sum(t *testing.T, data map[string]metricdata.Aggregation, name string, set attribute.Set) int64 {
	t.Helper()
	s, ok := data[name].(metricdata.Sum[int64])
	if !ok {
		return 0
	}
	for _, dp := range s.DataPoints {
		if dp.Attributes.Equals(&set) {
			return dp.Value
		}
	}
	return 0
}

// histogram is the data point of the histogram name at the attributes set.
func histogram(t *testing.T, data map[string]metricdata.Aggregation, name string, set attribute.Set) metricdata.HistogramDataPoint[float64] {
	t.Helper()
	h, ok := data[name].(metricdata.Histogram[float64])
	if ok {
		for _, dp := range h.DataPoints {
			if dp.Attributes.Equals(&set) {
				return dp
			}
		}
	}
	return metricdata.HistogramDataPoint[float64]{}
}
