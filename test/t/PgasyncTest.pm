#-------------------------------------------------------------------------
#
# PgasyncTest.pm
#	  Helpers shared by pgasync's TAP tests: the test certificates, SQL
#	  literals, and background psql sessions on a node whose statements
#	  run either to the end or are started now and finished later.
#
#-------------------------------------------------------------------------
package PgasyncTest;

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time);

our @EXPORT = qw(test_certs lit new_session run start_async finish_async);

# The directory of test certificates test/run.sh made (PGW_TEST_CERTS);
# bails out when there is none.
sub test_certs
{
	my $certs = $ENV{PGW_TEST_CERTS};

	Test::More::BAIL_OUT('PGW_TEST_CERTS must name a make-certs.sh output directory')
	  unless defined $certs && -f "$certs/root.crt";
	return $certs;
}

# A string as an SQL literal.
sub lit
{
	my $s = shift;
	$s =~ s/'/''/g;
	return "'$s'";
}

# A background psql session on $node (database postgres) that goes on after
# errors and reports them verbosely.
sub new_session
{
	my ($node) = @_;
	my $bg = $node->background_psql(
		'postgres',
		on_error_stop => 0,
		extra_params => [ '-v', 'VERBOSITY=verbose' ]);
	$bg->set_query_timer_restart;
	return $bg;
}

# Run SQL in a session and wait; returns (stdout, stderr, seconds).
sub run
{
	my ($bg, $sql) = @_;
	my $t0 = time;

	$bg->{stderr} = '';
	my $out = $bg->query($sql);
	my $err = $bg->{stderr};
	$bg->{stderr} = '';
	return ($out, $err, time - $t0);
}

# Start SQL in a session without waiting for it.
sub start_async
{
	my ($bg, $sql) = @_;

	$bg->{stdout} = '';
	$bg->{stderr} = '';
	$bg->{timeout}->start;
	$bg->{stdin} .= "$sql\n;\n\\echo ASYNC_DONE\n\\warn ASYNC_DONE\n";
	$bg->{run}->pump_nb;
	return;
}

# Wait for what start_async() started; returns (stdout, stderr, time when
# it finished).
sub finish_async
{
	my ($bg) = @_;

	$bg->{run}->pump
	  until ($bg->{stdout} =~ /ASYNC_DONE\n/ && $bg->{stderr} =~ /ASYNC_DONE\n/)
	  || $bg->{timeout}->is_expired;
	die "background query timed out" if $bg->{timeout}->is_expired;
	my $t = time;
	my ($out, $err) = ($bg->{stdout}, $bg->{stderr});
	s/\n?ASYNC_DONE\n// for ($out, $err);
	$bg->{stdout} = '';
	$bg->{stderr} = '';
	return ($out, $err, $t);
}

1;
