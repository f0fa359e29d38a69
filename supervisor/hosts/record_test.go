package hosts

import "testing"

func TestPlayURLs(t *testing.T) {
	web := Record{Advertise: Advertise{RTMP: "198.18.0.3:1935", HTTP: "198.18.0.3:8080", RTC: "198.18.0.3:8000"}}
	plain := Record{Advertise: Advertise{RTMP: "e1.example:1935", HTTP: "e1.example:80"}}
	for _, tc := range []struct {
		rec    Record
		stream string
		want   URLs
	}{
		{plain, "__defaultVhost__/live/s", URLs{RTMP: "rtmp://e1.example:1935/live/s", FLV: "http://e1.example:80/live/s.flv"}},
		{plain, "live/s", URLs{RTMP: "rtmp://e1.example:1935/live/s", FLV: "http://e1.example:80/live/s.flv"}},
		{plain, "cdn.a/live/sub/s", URLs{RTMP: "rtmp://e1.example:1935/live/sub/s?vhost=cdn.a", FLV: "http://e1.example:80/live/sub/s.flv?vhost=cdn.a"}},
		{web, "__defaultVhost__/live/s", URLs{RTMP: "rtmp://198.18.0.3:1935/live/s", FLV: "http://198.18.0.3:8080/live/s.flv",
			WHEP: "http://198.18.0.3:8080/rtc/v1/whep/?app=live&stream=s"}},
		{web, "edge/live/s", URLs{RTMP: "rtmp://198.18.0.3:1935/live/s?vhost=edge", FLV: "http://198.18.0.3:8080/live/s.flv?vhost=edge",
			WHEP: "http://198.18.0.3:8080/rtc/v1/whep/?app=live&stream=s&vhost=edge"}},
	} {
		if got := tc.rec.PlayURLs(tc.stream); got != tc.want {
			t.Errorf("PlayURLs(%q) =\n %+v\nwant\n %+v", tc.stream, got, tc.want)
		}
	}
}
