; Headless text mirror test: sets mode 3, writes lines to the text buffer
; with pauses between them, and never touches COM1 unless assembled with
; -DSERIAL (then it sends "SERIAL" through COM1 between the two lines).
; Ends halted.

%include "vga.inc"
cpu 386

rom_start
    mov si, mode3_regs
    call vga_program
    mov ah, 0x07
    call clear_text
    mov si, first_line
    mov di, (3 * 80 + 2) * 2
    mov ah, 0x07
    call put_text
    call pause
%ifdef SERIAL
    mov si, serial_text
.tx:
    ; Wait for the transmitter holding register (LSR bit 5).
    mov dx, 0x3FD
    in al, dx
    test al, 0x20
    jz .tx
    lodsb
    test al, al
    jz .tx_done
    mov dx, 0x3F8
    out dx, al
    jmp .tx
.tx_done:
    call pause
%endif
    mov si, last_line
    mov di, (5 * 80 + 2) * 2
    mov ah, 0x07
    call put_text
    call pause
.halt:
    cli
    hlt
    jmp .halt

; About 20 million instructions: several display frames of guest time.
pause:
    mov ecx, 10000000
.spin:
    dec ecx
    jnz .spin
    ret

first_line: db "HELLO FROM THE VGA", 0
last_line: db "LAST LINE", 0
serial_text: db "SERIAL", 13, 10, 0

rom_end
