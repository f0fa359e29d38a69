//go:build cgo && !notranscode

// A decode -> convert -> encode pipeline over libavcodec and libswresample.
// Every function returns a negative AVERROR on failure and frees nothing it
// was not given; se_close frees everything se_open allocated.
#include <stdint.h>

typedef struct se_pipe se_pipe;

enum { SE_PCM = 0, SE_AAC = 1, SE_OPUS = 2 };

se_pipe *se_open(int from, const uint8_t *extra, int extralen, int in_rate, int in_ch,
                 int to, int out_rate, int out_ch, int bitrate, int *err);
// se_send decodes one packet and queues its samples for the encoder; it
// returns how many (at the output rate).
int se_send(se_pipe *p, const uint8_t *data, int len);
// se_recv returns the next encoded packet (or, for SE_PCM, all queued
// samples as interleaved float) in *data/*len, valid until the next call:
// 1 with a packet, 0 when more input is needed.
int se_recv(se_pipe *p, const uint8_t **data, int *len, int *samples);
// se_config is the encoder's decoder configuration (AAC's
// AudioSpecificConfig); *len 0 when it has none.
void se_config(se_pipe *p, const uint8_t **data, int *len);
int se_delay(se_pipe *p);
void se_close(se_pipe *p);
void av_strerror_wrap(int err, char *buf, int size);
