//go:build cgo && !notranscode

#include <string.h>
#include <libavcodec/avcodec.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/opt.h>
#include <libswresample/swresample.h>
#include "pipe.h"

struct se_pipe {
	AVCodecContext *dec, *enc;
	SwrContext *swr;
	AVAudioFifo *fifo;
	AVFrame *in, *out;
	AVPacket *pkt;
	enum AVSampleFormat fmt;
	int rate, channels, frame_size;
	uint8_t *pcm;
	int pcm_cap;
};

void se_close(se_pipe *p) {
	if (!p) return;
	avcodec_free_context(&p->dec);
	avcodec_free_context(&p->enc);
	swr_free(&p->swr);
	if (p->fifo) av_audio_fifo_free(p->fifo);
	av_frame_free(&p->in);
	av_frame_free(&p->out);
	av_packet_free(&p->pkt);
	av_free(p->pcm);
	av_free(p);
}

static enum AVCodecID codec_id(int c) {
	return c == SE_AAC ? AV_CODEC_ID_AAC : AV_CODEC_ID_OPUS;
}

se_pipe *se_open(int from, const uint8_t *extra, int extralen, int in_rate, int in_ch,
                 int to, int out_rate, int out_ch, int bitrate, int *err) {
	// Errors come back as codes, and a bad packet is counted by the
	// caller: libav's own per-packet messages would flood stderr.
	av_log_set_level(AV_LOG_QUIET);
	int ret = AVERROR(ENOMEM);
	se_pipe *p = av_mallocz(sizeof(*p));
	if (!p) goto fail;
	const AVCodec *dc = avcodec_find_decoder(codec_id(from));
	if (!dc) { ret = AVERROR_DECODER_NOT_FOUND; goto fail; }
	if (!(p->dec = avcodec_alloc_context3(dc))) goto fail;
	if (extralen > 0) {
		p->dec->extradata = av_mallocz(extralen + AV_INPUT_BUFFER_PADDING_SIZE);
		if (!p->dec->extradata) goto fail;
		memcpy(p->dec->extradata, extra, extralen);
		p->dec->extradata_size = extralen;
	}
	if (in_rate > 0) p->dec->sample_rate = in_rate;
	if (in_ch > 0) av_channel_layout_default(&p->dec->ch_layout, in_ch);
	if ((ret = avcodec_open2(p->dec, dc, NULL)) < 0) goto fail;

	p->rate = out_rate;
	p->channels = out_ch;
	p->fmt = AV_SAMPLE_FMT_FLT;
	if (to != SE_PCM) {
		// libavcodec's native Opus encoder is experimental; libopus is the
		// one to use.
		const AVCodec *ec = to == SE_OPUS ? avcodec_find_encoder_by_name("libopus") : avcodec_find_encoder(AV_CODEC_ID_AAC);
		if (!ec) { ret = AVERROR_ENCODER_NOT_FOUND; goto fail; }
		ret = AVERROR(ENOMEM);
		if (!(p->enc = avcodec_alloc_context3(ec))) goto fail;
		p->enc->sample_rate = out_rate;
		av_channel_layout_default(&p->enc->ch_layout, out_ch);
		p->enc->bit_rate = bitrate;
		p->enc->sample_fmt = to == SE_OPUS ? AV_SAMPLE_FMT_FLT : AV_SAMPLE_FMT_FLTP;
		p->enc->time_base = (AVRational){1, out_rate};
		if (to == SE_AAC) p->enc->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
		if (to == SE_OPUS) av_opt_set(p->enc->priv_data, "application", "audio", 0);
		if ((ret = avcodec_open2(p->enc, ec, NULL)) < 0) goto fail;
		p->fmt = p->enc->sample_fmt;
		p->frame_size = p->enc->frame_size;
	}
	ret = AVERROR(ENOMEM);
	if (!(p->fifo = av_audio_fifo_alloc(p->fmt, out_ch, 4096))) goto fail;
	if (!(p->in = av_frame_alloc()) || !(p->out = av_frame_alloc()) || !(p->pkt = av_packet_alloc())) goto fail;
	*err = 0;
	return p;
fail:
	se_close(p);
	*err = ret;
	return NULL;
}

// setup_swr (re)makes the converter when the decoded format first shows
// itself or changes (an AAC stream may change rate mid-stream).
static int setup_swr(se_pipe *p, AVFrame *f) {
	AVChannelLayout out;
	av_channel_layout_default(&out, p->channels);
	swr_free(&p->swr);
	int ret = swr_alloc_set_opts2(&p->swr, &out, p->fmt, p->rate, &f->ch_layout, f->format, f->sample_rate, 0, NULL);
	if (ret < 0) return ret;
	return swr_init(p->swr);
}

int se_send(se_pipe *p, const uint8_t *data, int len) {
	av_packet_unref(p->pkt);
	int ret = av_new_packet(p->pkt, len);
	if (ret < 0) return ret;
	memcpy(p->pkt->data, data, len);
	if ((ret = avcodec_send_packet(p->dec, p->pkt)) < 0) return ret;
	int queued = 0;
	for (;;) {
		ret = avcodec_receive_frame(p->dec, p->in);
		if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return queued;
		if (ret < 0) return ret;
		int64_t in_rate = 0, in_fmt = 0;
		AVChannelLayout in_layout = {0};
		if (p->swr) {
			av_opt_get_int(p->swr, "in_sample_rate", 0, &in_rate);
			av_opt_get_int(p->swr, "in_sample_fmt", 0, &in_fmt);
			av_opt_get_chlayout(p->swr, "in_chlayout", 0, &in_layout);
		}
		if (!p->swr || in_rate != p->in->sample_rate || in_fmt != p->in->format ||
		    av_channel_layout_compare(&in_layout, &p->in->ch_layout) != 0) {
			if ((ret = setup_swr(p, p->in)) < 0) {
				av_channel_layout_uninit(&in_layout);
				av_frame_unref(p->in);
				return ret;
			}
		}
		av_channel_layout_uninit(&in_layout);
		int max = swr_get_out_samples(p->swr, p->in->nb_samples);
		uint8_t **buf = NULL;
		ret = av_samples_alloc_array_and_samples(&buf, NULL, p->channels, max, p->fmt, 0);
		if (ret < 0) { av_frame_unref(p->in); return ret; }
		int n = swr_convert(p->swr, buf, max, (const uint8_t **)p->in->extended_data, p->in->nb_samples);
		if (n > 0) n = av_audio_fifo_write(p->fifo, (void **)buf, n);
		av_freep(&buf[0]);
		av_freep(&buf);
		av_frame_unref(p->in);
		if (n < 0) return n;
		queued += n;
	}
}

int se_recv(se_pipe *p, const uint8_t **data, int *len, int *samples) {
	int ret;
	if (!p->enc) {
		int n = av_audio_fifo_size(p->fifo);
		if (n == 0) return 0;
		int need = n * p->channels * (int)sizeof(float);
		if (need > p->pcm_cap) {
			av_free(p->pcm);
			if (!(p->pcm = av_malloc(need))) { p->pcm_cap = 0; return AVERROR(ENOMEM); }
			p->pcm_cap = need;
		}
		void *planes[1] = {p->pcm};
		if ((n = av_audio_fifo_read(p->fifo, planes, n)) < 0) return n;
		*data = p->pcm;
		*len = n * p->channels * (int)sizeof(float);
		*samples = n;
		return 1;
	}
	for (;;) {
		av_packet_unref(p->pkt);
		ret = avcodec_receive_packet(p->enc, p->pkt);
		if (ret == 0) {
			*data = p->pkt->data;
			*len = p->pkt->size;
			*samples = (int)p->pkt->duration;
			return 1;
		}
		if (ret != AVERROR(EAGAIN)) return ret;
		if (av_audio_fifo_size(p->fifo) < p->frame_size) return 0;
		av_frame_unref(p->out);
		p->out->nb_samples = p->frame_size;
		p->out->format = p->fmt;
		p->out->sample_rate = p->rate;
		if ((ret = av_channel_layout_copy(&p->out->ch_layout, &p->enc->ch_layout)) < 0) return ret;
		if ((ret = av_frame_get_buffer(p->out, 0)) < 0) return ret;
		if ((ret = av_audio_fifo_read(p->fifo, (void **)p->out->data, p->frame_size)) < 0) return ret;
		if ((ret = avcodec_send_frame(p->enc, p->out)) < 0) return ret;
	}
}

void se_config(se_pipe *p, const uint8_t **data, int *len) {
	if (p->enc && p->enc->extradata_size > 0) {
		*data = p->enc->extradata;
		*len = p->enc->extradata_size;
		return;
	}
	*data = NULL;
	*len = 0;
}

int se_delay(se_pipe *p) { return p->enc ? p->enc->initial_padding : 0; }

void av_strerror_wrap(int err, char *buf, int size) { av_strerror(err, buf, size); }
